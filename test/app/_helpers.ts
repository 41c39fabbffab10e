// Shared by the app tests: real children with real fds at 3.., real sockets made through the seam.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import * as sys from '../../src/sys/index.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FIXTURE = path.join(ROOT, 'test/app/fixtures/app.mjs');
export const SD_PEER = path.join(ROOT, 'test/_support/sd-peer.py');
/** docs/protocol.md 13: the trampoline that sets LISTEN_PID to the pid that then execs the program. */
export const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"';

/** A private temp dir, removed after the file's tests. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sockact-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function abstractName(): string {
  return `@sockact-test-${randomBytes(6).toString('hex')}`;
}

/** A listening socket made the way a launcher makes it (bind + listen, no accept). */
export function listener(addr: sys.SockAddr, type: sys.SocketType = 'stream', backlog = 64): { fd: number; addr: sys.SockAddr } {
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

/** Everything a server on 127.0.0.1:`port` writes before it ends the connection. */
export function readAll(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    net.connect(port, '127.0.0.1').setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => resolve(text)).on('error', reject);
  });
}

/** The body of an HTTP/1.0 GET over an abstract UNIX socket, through Python (exact name length, as systemd uses; Node pads it). */
export function abstractHttpGet(name: string): string {
  const py = `import socket,sys
s=socket.socket(socket.AF_UNIX)
s.connect('\\0'+sys.argv[1])
s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')
data=b''
while True:
    b=s.recv(4096)
    if not b: break
    data+=b
sys.stdout.write(data.split(b'\\r\\n\\r\\n',1)[1].decode())`;
  return execFileSync('python3', ['-c', py, name.slice(1)], { encoding: 'utf8' });
}

/**
 * The listen(2) backlog of the TCP socket listening on 127.0.0.1:`port`, as the kernel reports it
 * (iproute2's ss: Send-Q of a listening socket is its backlog after the somaxconn cap).
 */
export function tcpBacklog(port: number): number {
  const line = execFileSync('ss', ['-Hltn', `src 127.0.0.1:${port}`], { encoding: 'utf8' }).trim();
  const fields = line.split(/\s+/);
  if (fields[0] !== 'LISTEN' || line.includes('\n')) throw new Error(`ss: expected one listening socket on port ${port}: ${line}`);
  return Number(fields[2]);
}

export interface Child {
  proc: ChildProcess;
  /** Next stdout line parsed as JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: a fixture's JSON report; each test asserts the shape it expects.
  json(): Promise<any>;
  stderr(): string;
  /** Close stdin (the fixtures exit on it) and wait for the exit. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
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

export function wrap(proc: ChildProcess): Child {
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let ended = false;
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  createInterface({ input: proc.stdout! })
    .on('line', (line) => {
      const w = waiters.shift();
      if (w) w(line);
      else lines.push(line);
    })
    .on('close', () => {
      ended = true;
      for (const w of waiters.splice(0)) w(undefined);
    });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = {
    proc,
    exited,
    stderr: () => err,
    json: async () => {
      const line = lines.length ? lines.shift() : ended ? undefined : await new Promise<string | undefined>((r) => waiters.push(r));
      if (line === undefined) throw new Error(`child ended without output; stderr: ${err}`);
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`child printed a line that is not JSON: ${line}; stderr: ${err}`);
      }
    },
    stop: async () => {
      proc.stdin!.end();
      return exited;
    },
  };
  return child;
}

/** Run the test fixture (node app.mjs MODE ...) activated with `fds`. */
export function runApp(fds: readonly number[], mode: string, args: string[] = [], env: Record<string, string | undefined> = {}): Child {
  return runActivated(fds, process.execPath, [FIXTURE, mode, ...args], env);
}
