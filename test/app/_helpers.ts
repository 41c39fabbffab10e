// Shared by the app tests: real children with real fds at 3.., real sockets made through the seam.
import { execFileSync, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import * as sys from '../../src/sys/index.js';
import { wrap, type Child } from '../_support/child.js';
import { ROOT } from '../_support/launcher.js';

export { ROOT, SD_PEER } from '../_support/launcher.js';
export const FIXTURE = path.join(ROOT, 'test/app/fixtures/app.mjs');
/** docs/protocol.md 13: the trampoline that sets LISTEN_PID to the pid that then execs the program. */
export const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** A listening socket made the way a launcher makes it (bind + listen, no accept). */
export function listener(
  addr: sys.SockAddr,
  type: sys.SocketType = 'stream',
  backlog = 64,
): { fd: number; addr: sys.SockAddr } {
  const fd = sys.socket(addr.family, type);
  if (addr.family !== 'unix') sys.setsockoptInt(fd, sys.SOL_SOCKET, sys.SO_REUSEADDR, 1);
  sys.bind(fd, addr);
  if (type !== 'dgram') sys.listenSocket(fd, backlog);
  return { fd, addr: sys.getsockname(fd)! };
}

/** A connection accepted the way systemd accepts for Accept=yes: our client end, and the accepted fd. */
export async function acceptedConnection(): Promise<{ client: net.Socket; fd: number }> {
  const l = listener({ family: 'inet', address: '127.0.0.1', port: 0 });
  const client = net.connect((l.addr as { port: number }).port, '127.0.0.1');
  await new Promise((r) => client.once('connect', r));
  const { fd } = sys.accept(l.fd);
  sys.closeFd(l.fd);
  return { client, fd };
}

/**
 * The listen(2) backlog of the TCP socket listening on 127.0.0.1:`port`, as the kernel reports it
 * (iproute2's ss: Send-Q of a listening socket is its backlog after the somaxconn cap).
 */
export function tcpBacklog(port: number): number {
  const line = execFileSync('ss', ['-Hltn', `src 127.0.0.1:${port}`], { encoding: 'utf8' }).trim();
  const fields = line.split(/\s+/);
  if (fields[0] !== 'LISTEN' || line.includes('\n'))
    throw new Error(`ss: expected one listening socket on port ${port}: ${line}`);
  return Number(fields[2]);
}

/**
 * Run `program args` with `fds` placed at 3.. (spawn's stdio array) through the sh trampoline
 * (exact LISTEN_PID), then close the parent's copies so the child holds the only ones.
 */
export function runActivated(
  fds: readonly number[],
  program: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  { trampoline = true, closeParentCopies = true } = {},
): Child {
  const fullEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) {
    if (v !== undefined && !/^(LISTEN_|NOTIFY_SOCKET|WATCHDOG_)/.test(k)) fullEnv[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) fullEnv[k] = v;
  if (fds.length && fullEnv.LISTEN_FDS === undefined && !('LISTEN_FDS' in env)) fullEnv.LISTEN_FDS = String(fds.length);
  const proc = trampoline
    ? spawn('sh', ['-c', TRAMPOLINE, program, ...args], { env: fullEnv, stdio: ['pipe', 'pipe', 'pipe', ...fds] })
    : spawn(program, args, { env: fullEnv, stdio: ['pipe', 'pipe', 'pipe', ...fds] });
  if (closeParentCopies) for (const fd of fds) sys.closeFd(fd);
  return wrap(proc);
}

/** Run the test fixture (node app.mjs MODE ...) activated with `fds`. */
export function runApp(
  fds: readonly number[],
  mode: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
): Child {
  return runActivated(fds, process.execPath, [FIXTURE, mode, ...args], env);
}
