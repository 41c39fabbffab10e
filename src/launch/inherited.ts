import type { ListenFd } from '../app/listen-fds.js';

/**
 * The sockets the launcher itself inherited (sockact started by systemd or by another sockact),
 * read with the app side's listenFds(), which also removes LISTEN_* from the environment. They go
 * to the child first, at their positions and with their names (docs/protocol.md 15). The app module
 * is loaded only when LISTEN_PID names this process: an unactivated launch never reads it.
 */
export async function inheritedSockets(): Promise<readonly ListenFd[]> {
  // listenFds() reads process.env, so the check must too.
  if (process.env.LISTEN_PID !== String(process.pid)) return [];
  const { listenFds } = await import('../app/listen-fds.js');
  return listenFds();
}
