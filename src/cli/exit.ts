import { constants } from 'node:os';

/** Signals whose default action dumps core: raising them would leave a core of the launcher itself. */
const CORE_SIGNALS = new Set([
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGSEGV',
  'SIGSYS',
  'SIGXCPU',
  'SIGXFSZ',
]);

const cleanups: (() => void)[] = [];

function runCleanups(): void {
  for (const fn of cleanups.splice(0)) fn();
}

/**
 * Run `fn` once as the launcher ends: at process.exit() and also when exitLike() ends it by a
 * signal, which runs no 'exit' handler (the pid file must go either way).
 */
export function atExit(fn: () => void): void {
  if (cleanups.length === 0) process.on('exit', runCleanups);
  cleanups.push(fn);
}

/**
 * End the launcher the way its child ended: with its exit code, or by the same signal, so a shell
 * sees 128+N and systemd sees a clean stop after SIGTERM. For a signal, every handler is removed
 * first; adding and removing one more makes libuv reset it to the default action even where Node
 * had set it to ignore (SIGPIPE) or claimed it (SIGUSR1 starts the inspector). Signals that would
 * dump a core of the launcher, and any signal that does not end it, become exit 128+N instead.
 */
export function exitLike(code: number | null, signal: NodeJS.Signals | null): never {
  if (signal === null) process.exit(code ?? 1);
  runCleanups();
  const n = constants.signals[signal] ?? 0;
  if (!CORE_SIGNALS.has(signal)) {
    if (signal !== 'SIGKILL' && signal !== 'SIGSTOP') {
      process.removeAllListeners(signal);
      const reset = () => {};
      process.on(signal, reset);
      process.off(signal, reset);
    }
    try {
      process.kill(process.pid, signal);
    } catch {
      // Unknown to this platform: fall through to the exit code.
    }
  }
  process.exit(128 + n);
}
