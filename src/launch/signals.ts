import { processGroup, terminalForegroundGroup } from '../sys/fd.js';

/** Signals the launcher passes on to its child (systemd's KillSignal=, reload and user signals). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGTERM',
  'SIGINT',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGHUP',
];

/** Signals a terminal sends to its whole foreground process group (Ctrl-C, Ctrl-\). */
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/**
 * Whether the terminal already delivered `signal` to the child: Ctrl-C and Ctrl-\ go to every
 * process in the foreground group, and the child shares the launcher's group. Forwarding it too
 * would make a Ctrl-C arrive twice (a Node server would see its second Ctrl-C and exit hard).
 * A `kill -INT` from elsewhere while the launcher is in the foreground is not forwarded either:
 * the kernel does not say who sent a signal to a Node handler.
 */
export function terminalDelivered(signal: NodeJS.Signals): boolean {
  if (!TERMINAL_SIGNALS.includes(signal)) return false;
  for (const fd of [0, 1, 2]) {
    const fg = terminalForegroundGroup(fd);
    if (fg >= 0) return fg === processGroup();
  }
  return false;
}

/**
 * Call `handle(signal, delivered)` for each of FORWARDED_SIGNALS the launcher receives;
 * `delivered` says the terminal already sent it to the child (see terminalDelivered), so it must
 * not be sent again. Installing the handlers keeps the launcher alive through the signal, so it
 * can report how the child ended. Returns a function that removes them.
 */
export function forwardSignals(handle: (signal: NodeJS.Signals, delivered: boolean) => void): () => void {
  const handlers = FORWARDED_SIGNALS.map((signal) => {
    const h = () => handle(signal, terminalDelivered(signal));
    process.on(signal, h);
    return [signal, h] as const;
  });
  return () => {
    for (const [signal, h] of handlers) process.off(signal, h);
  };
}
