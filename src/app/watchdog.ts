import { WATCHDOG } from '../protocol/notify.js';
import { parseWatchdogEnv } from '../protocol/watchdog-env.js';
import { sendNotify } from './notify-send.js';

/** setInterval clamps longer delays to 1 ms (2^31-1 ms is about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

let timer: NodeJS.Timeout | undefined;
let lastWarning: string | undefined;

/**
 * sd_watchdog_enabled() (docs/protocol.md 22): the watchdog interval in microseconds when WATCHDOG_USEC
 * is set and above 0 and WATCHDOG_PID is unset or this process, else 0. Throws SockactError
 * (ERR_WATCHDOG_ENV) for malformed values. Read on every call; nothing is unset.
 */
export function watchdogEnabled(): number {
  return parseWatchdogEnv(process.env, process.pid);
}

/**
 * Start the watchdog keep-alive: WATCHDOG=1 now and then every WATCHDOG_USEC/2 (docs/protocol.md 22), on
 * an unref'd timer that never keeps the process alive. It only proves the event loop turns; ping
 * with notify.watchdog() from your own health check instead if you need more. Not started at
 * import: call it early, or let notify.ready() start it. Returns the interval in microseconds,
 * or 0 when the watchdog is off. Idempotent. A failed ping is a process warning, not a crash.
 */
export function startWatchdog(): number {
  const usec = watchdogEnabled();
  if (usec === 0) return 0;
  if (timer) return usec;
  const ping = () => {
    try {
      sendNotify(WATCHDOG);
    } catch (err) {
      const message = (err as Error).message;
      // One warning per distinct failure: a ping every few seconds would flood stderr.
      if (message !== lastWarning) {
        lastWarning = message;
        process.emitWarning(`watchdog ping failed: ${message}`, { code: 'SOCKACT_WATCHDOG' });
      }
    }
  };
  ping();
  timer = setInterval(ping, Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(usec / 2000))));
  timer.unref();
  return usec;
}

/** Stop the keep-alive started by startWatchdog() (or ready()). */
export function stopWatchdog(): void {
  if (timer) clearInterval(timer);
  timer = undefined;
}
