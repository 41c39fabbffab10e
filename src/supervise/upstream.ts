import { formatNotify, parseNotifySocket } from '../protocol/notify.js';
import { parseWatchdogEnv } from '../protocol/watchdog-env.js';
import { sendmsg } from '../sys/msg.js';
import { socket } from '../sys/socket.js';
import type { Upstream } from './seam.js';

/**
 * sd_notify(3) from sockact to its own service manager: systemd, when sockact runs as a
 * Type=notify or Type=notify-reload service (NOTIFY_SOCKET set). sockact stays the main pid, so
 * NotifyAccess=main is enough. A failed send is reported once and never stops the supervisor.
 */
export function systemdUpstream(
  env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): { upstream: Upstream; watchdogMs: number | undefined } | undefined {
  const value = env.NOTIFY_SOCKET;
  if (value === undefined) return undefined;
  const { path } = parseNotifySocket(value);
  const usec = parseWatchdogEnv(env, process.pid);
  let fd: number | undefined;
  let warned = false;
  const upstream: Upstream = {
    send(fields) {
      const text = Object.entries(fields)
        .map(([k, v]) => `${k}=${v.replace(/\n/g, ' ')}`)
        .join('\n');
      try {
        fd ??= socket('unix', 'dgram');
        sendmsg(fd, formatNotify(text), { to: { family: 'unix', path } });
      } catch (err) {
        if (!warned) warn(`can't notify NOTIFY_SOCKET ${value}: ${(err as Error).message}`);
        warned = true;
      }
    },
  };
  return { upstream, watchdogMs: usec > 0 ? usec / 1000 : undefined };
}
