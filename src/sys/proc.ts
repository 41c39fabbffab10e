import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { lastErrno, libc } from './libc.js';
import { sysError } from './errors.js';

/*
 * What /proc tells about other processes. Read with plain file reads: no libc call but waitpid.
 */

/** accept(2) and accept4(2) syscall numbers, as /proc/PID/syscall shows them. */
const ACCEPT_SYSCALLS: Record<string, readonly number[]> = { x64: [43, 288], arm64: [202, 242] };

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` is waiting for connections on one of `fds` (its own fd numbers): one of
 * its epoll sets holds the fd (Node, Go, nginx, asyncio: /proc/PID/fdinfo of the epoll fd lists
 * each "tfd"), or one of its threads is blocked in accept() on it (/proc/PID/task/TID/syscall).
 * A program that waits with poll() or select() cannot be seen this way: false.
 */
export function acceptingOn(pid: number, fds: readonly number[]): boolean {
  if (fds.length === 0) return false;
  const wanted = new Set(fds);
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of entries) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:[eventpoll]') continue;
    const info = read(`/proc/${pid}/fdinfo/${fd}`) ?? '';
    for (const m of info.matchAll(/^tfd:\s*(\d+)/gm)) if (wanted.has(Number(m[1]))) return true;
  }
  const accepts = ACCEPT_SYSCALLS[process.arch] ?? [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  for (const tid of tasks) {
    const [nr, arg0] = (read(`/proc/${pid}/task/${tid}/syscall`) ?? '').trim().split(' ');
    if (nr !== undefined && arg0 !== undefined && accepts.includes(Number(nr)) && wanted.has(Number(arg0))) return true;
  }
  return false;
}

/**
 * State (R, S, Z...) and parent pid of `pid`: fields 3 and 4 of /proc/PID/stat (proc(5)), read
 * after the last ')' because the command name before them may hold spaces and parentheses.
 */
export function processStat(pid: number | string): { state: string; ppid: number } | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return state === undefined || ppid === undefined ? undefined : { state, ppid: Number(ppid) };
}

/** The command line of `pid`, its arguments joined by NULs (/proc/PID/cmdline); undefined when unreadable. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return undefined;
  }
}

/** The fds this process has open (/proc/self/fd, including the one listing it); undefined without /proc. */
export function ownFds(): number[] | undefined {
  try {
    return readdirSync('/proc/self/fd').map(Number);
  } catch {
    return undefined;
  }
}

/** What /proc/self/fd/FD links to ('socket:[123]', 'anon_inode:[eventfd]', a path); undefined when unreadable. */
export function fdTarget(fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** Children of this process that have exited and wait to be reaped (state Z in /proc/PID/stat). */
export function zombieChildren(): number[] {
  const self = process.pid;
  const out: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return out;
  }
  for (const p of pids) {
    const st = processStat(p);
    if (st?.state === 'Z' && st.ppid === self) out.push(Number(p));
  }
  return out;
}

const WNOHANG = 1;
const ECHILD = 10;

/** waitpid(pid, WNOHANG): reap one exited child. True when it was reaped. */
export function reap(pid: number): boolean {
  const status = new Int32Array(1);
  const r = libc().waitpid(pid, status, WNOHANG);
  if (r > 0) return true;
  if (r === 0) return false;
  const errno = lastErrno();
  if (errno === ECHILD) return false;
  throw sysError('waitpid', errno, `reap pid ${pid}`);
}

/**
 * This process's parent pid now (getppid(2), from /proc/self/stat: Node reads process.ppid once),
 * or undefined without /proc. It changes when the parent exits (the child is reparented).
 */
export function parentPidNow(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isSafeInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}
