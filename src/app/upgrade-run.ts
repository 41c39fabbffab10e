import type { ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { quote, SockactError } from '../protocol/errors.js';
import { fdNameProblem } from '../protocol/fdname.js';
import { parseNotifyMessage } from '../protocol/notify.js';
import { TRAMPOLINE, TRAMPOLINE_SHELL, upgradeEnv } from '../protocol/upgrade.js';
import { SO_PASSCRED, SOCK_NONBLOCK, SOL_SOCKET } from '../sys/constants.js';
import { errorReason } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { pollLoop, type Watch } from '../sys/loop.js';
import { recvmsg } from '../sys/msg.js';
import { bind, setsockoptInt, socket } from '../sys/socket.js';
import { adoptedBy, servedServers } from './adopt.js';
import { listenFds } from './listen-fds.js';
import { fdOf } from './node-internals.js';
import { notify } from './notify.js';
import { shutdown } from './shutdown.js';
import { stopWatchdog } from './watchdog.js';

/*
 * One self-upgrade's run (upgrade.ts holds upgrader(), its options and its state): the sockets
 * to pass, the new copy started through the trampoline, its READY=1 on a private socket, and the
 * drain of this process. Loaded by the first upgrade() only.
 */

/** What is passed to the new copy: fd, name, and the server to drain (none for a fd no server of listen() holds). */
interface Passed {
  fd: number;
  name: string;
  server?: Parameters<typeof shutdown>[0];
}

/**
 * The sockets to pass: every fd this process inherited (listenFds(), in order, names kept), the
 * ones listen() adopted at the fd its server holds now, then the sockets listen() bound itself
 * (not activated), each with the name listen() was given.
 */
function collect(): Passed[] {
  const served = servedServers();
  const byFd = new Map<number, Passed>();
  for (const s of served) {
    const fd = fdOf(s.server as net.Server);
    if (fd !== undefined) byFd.set(fd, { fd, name: s.name, server: s.server as Passed['server'] });
  }
  const out: Passed[] = [];
  for (const d of listenFds({ unsetEnv: false })) {
    // Adopted by listen() but no longer served: closed, and its number may be another file's now.
    if (adoptedBy(d.fd) === 'listen()' && !byFd.has(d.fd)) continue;
    out.push(byFd.get(d.fd) ?? { fd: d.fd, name: d.name });
    byFd.delete(d.fd);
  }
  out.push(...byFd.values());
  for (const p of out) {
    const problem = fdNameProblem(p.name);
    if (problem)
      throw new SockactError('ERR_UPGRADE', `can't pass fd ${p.fd}: its name ${quote(p.name)} ${problem}`, {
        value: p.name,
      });
  }
  return out;
}

/** A private 0700 directory with a datagram socket (SO_PASSCRED: the kernel names each sender's pid). */
function readySocket(): { fd: number; path: string; dir: string } {
  const base = process.env.XDG_RUNTIME_DIR || process.env.TMPDIR || '/tmp';
  const dir = mkdtempSync(`${base}/sockact-upgrade-`);
  const path = `${dir}/ready.sock`;
  let fd = -1;
  try {
    fd = socket('unix', 'dgram', SOCK_NONBLOCK);
    bind(fd, { family: 'unix', path });
    setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
    return { fd, path, dir };
  } catch (cause) {
    if (fd >= 0) closeFd(fd);
    rmSync(dir, { recursive: true, force: true });
    throw new SockactError('ERR_UPGRADE', `can't make the upgrade's ready socket in ${base}: ${errorReason(cause)}`, {
      cause,
    });
  }
}

/**
 * The new copy (`pid`) is ready: MAINPID=<pid> to systemd (when NOTIFY_SOCKET is set), no more
 * watchdog keep-alives from here, and every passed server drains. Resolves with the connections
 * force-closed.
 */
async function retire(pid: number, passed: readonly Passed[], drainTimeout: number): Promise<number> {
  if (process.env.NOTIFY_SOCKET !== undefined) {
    try {
      notify.mainPid(pid);
    } catch (err) {
      process.emitWarning(`MAINPID=${pid} not sent: ${(err as Error).message}`, { code: 'SOCKACT_UPGRADE' });
    }
  }
  stopWatchdog();
  const servers = passed.flatMap((p) => (p.server ? [p.server] : []));
  const results = await Promise.all(servers.map((s) => shutdown(s, { timeout: drainTimeout, notify: false })));
  return results.reduce((n, r) => n + r.forced, 0);
}

/** Close the ready socket and remove its directory. */
function release(ready: { fd: number; dir: string }): void {
  closeFd(ready.fd);
  rmSync(ready.dir, { recursive: true, force: true });
}

/** Start the new copy through the trampoline, with the passed sockets at fd 3.. (`env` names them). */
async function startCopy(command: readonly string[], passed: readonly Passed[], env: NodeJS.ProcessEnv) {
  const { spawn } = await import('node:child_process');
  let child: ChildProcess;
  try {
    child = spawn(TRAMPOLINE_SHELL, ['-c', TRAMPOLINE, ...command], {
      stdio: ['inherit', 'inherit', 'inherit', ...passed.map((p) => p.fd)],
      env,
    });
  } catch (cause) {
    const why = `can't start the new copy (${command.join(' ')}): ${errorReason(cause)}`;
    throw new SockactError('ERR_UPGRADE', why, { cause });
  }
  // The new copy outlives this process; it must not keep it alive either.
  child.unref();
  return child;
}

/**
 * Resolves with the new copy's pid once its own READY=1 reaches the ready socket; rejects when it exits or fails to
 * start first, or is not ready within `timeout` (then it is killed).
 */
function readyFrom(child: ChildProcess, readyFd: number, timeout: number, label: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let watch: Watch | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (err?: SockactError) => {
      watch?.close();
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      if (err) reject(err);
      else resolve(child.pid!);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(new SockactError('ERR_UPGRADE', `the new copy (pid ${child.pid}) ${how} before it was ready`));
    };
    const onError = (cause: Error) => {
      settle(new SockactError('ERR_UPGRADE', `can't start the new copy (${label}): ${errorReason(cause)}`, { cause }));
    };
    child.once('exit', onExit);
    child.once('error', onError);
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      const why = `the new copy (pid ${child.pid}) was not ready within ${timeout} ms: killed it`;
      settle(new SockactError('ETIMEDOUT', why));
    }, timeout);
    watch = pollLoop().watch(readyFd, () => {
      // Level-triggered: read every queued datagram. Only the new copy's own READY=1 counts.
      for (let m = recvmsg(readyFd, 4096, 0); m; m = recvmsg(readyFd, 4096, 0)) {
        if (m.credentials?.pid === child.pid && parseNotifyMessage(m.data).get('READY') === '1') return settle();
      }
    });
  });
}

/**
 * One upgrade (upgrade.ts upgrader()): start the new copy with this process's sockets, wait for
 * its READY=1, then retire this process. `steps.started` gets the copy's pid once it runs,
 * `steps.ready` once it is ready (before the drain). Rejects with the reason, nothing changed.
 */
export async function runUpgrade(
  command: readonly string[],
  baseEnv: NodeJS.ProcessEnv,
  timeout: number,
  drainTimeout: number,
  steps: { started: (pid: number) => void; ready: (pid: number) => void },
): Promise<{ pid: number; forced: number }> {
  const passed = collect();
  const ready = readySocket();
  let pid: number;
  try {
    const env = upgradeEnv(
      baseEnv,
      passed.map((p) => p.name),
      ready.path,
    );
    const child = await startCopy(command, passed, env);
    if (child.pid !== undefined) steps.started(child.pid);
    pid = await readyFrom(child, ready.fd, timeout, command.join(' '));
  } finally {
    release(ready);
  }
  steps.ready(pid);
  const forced = await retire(pid, passed, drainTimeout);
  return { pid, forced };
}
