// sockact and systemd's fd store. The names (a table), the sorting of inherited fds (values as
// listenFds() describes them), and end to end: real sockact restarted by a stand-in for systemd
// (fixtures/fdstore-manager.py: a NOTIFY_SOCKET that keeps FDSTORE=1 fds over SCM_RIGHTS and
// starts the service again with them at 3.., exact LISTEN_PID), with a real app and real clients.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ListenFd } from '../../src/app/listen-fds.js';
import { parseListen } from '../../src/protocol/address.js';
import { storeName, takeFromStore } from '../../src/launch/fdstore.js';
import { perTest, PYTHON, ROOT, run, SOCKACT, type Run } from '../_support/launcher.js';

const MANAGER = join(ROOT, 'test/launch/fixtures/fdstore-manager.py');
const APP = join(ROOT, 'test/supervise/fixtures/app.mjs');
const { defer } = perTest();

describe('storeName', () => {
  it.each([
    // The -l name, behind the prefix no unit name can have.
    ['8080,name=web', 'sockact/web'],
    // No name: the address as given, ':' percent-encoded (an fd name holds no ':').
    ['127.0.0.1:8080', 'sockact/127.0.0.1%3A8080'],
    // Port 0 stays 0: the same name on every start, whatever port the kernel chose.
    ['[::1]:0', 'sockact/[%3A%3A1]%3A0'],
    // The type, for all but stream: the same address may be stored twice.
    ['/run/x.sock,dgram', 'sockact/dgram-/run/x.sock'],
    // '%' itself is encoded, so two addresses never encode alike; non-ASCII as UTF-8.
    ['/run/a%b\u00e9.sock', 'sockact//run/a%25b%C3%A9.sock'],
  ])('-l %s is stored as %s', (text, name) => {
    expect(storeName(parseListen(text))).toBe(name);
  });

  it('is at most 255 characters (FDNAME_MAX)', () => {
    expect(storeName(parseListen(`8080,name=${'x'.repeat(255)}`))).toBe(`sockact/${'x'.repeat(247)}`);
    expect(storeName(parseListen(`/${'é'.repeat(50)}`))).toHaveLength(255);
  });
});

describe('takeFromStore', () => {
  const tcp = (fd: number, name: string, address: string, port: number): ListenFd => ({
    fd,
    name,
    kind: 'socket',
    type: 'stream',
    family: 'inet',
    listening: true,
    local: { family: 'inet', address, port },
    address: `${address}:${port}`,
  });

  it('takes back by address, passes on what is not stored, and finds the stale entries', () => {
    const unit = tcp(3, 'web', '127.0.0.1', 80); // a .socket unit's: FileDescriptorName=web
    const web = tcp(4, 'sockact/web', '127.0.0.1', 8080);
    const moved = tcp(5, 'sockact/admin', '127.0.0.1', 9090); // admin moved to 9091
    const dropped = tcp(6, 'sockact/127.0.0.1%3A7070', '127.0.0.1', 7070);
    const r = takeFromStore(
      [unit, web, moved, dropped],
      [parseListen('127.0.0.1:8080,name=web'), parseListen('127.0.0.1:9091,name=admin')],
    );
    expect(r.passOn).toEqual([unit]);
    expect(r.taken.map((t) => t?.fd)).toEqual([4, undefined]);
    expect(r.stale).toEqual([moved, dropped]);
  });

  it('takes back by address under another name (renamed), but a port-0 -l only by its own name', () => {
    const old = tcp(3, 'sockact/old', '127.0.0.1', 8080);
    const any = tcp(4, 'sockact/other', '127.0.0.1', 41000);
    const mine = tcp(5, 'sockact/127.0.0.1%3A0', '127.0.0.1', 42000);
    const r = takeFromStore([old, any, mine], [parseListen('127.0.0.1:8080,name=new'), parseListen('127.0.0.1:0')]);
    expect(r.taken.map((t) => [t?.fd, t?.storedAs])).toEqual([
      [3, 'sockact/old'],
      [5, 'sockact/127.0.0.1%3A0'],
    ]);
    expect(r.stale).toEqual([any]);
  });

  it('matches the type too: a stored datagram socket is no stream -l', () => {
    const dgram: ListenFd = { ...tcp(3, 'sockact/x', '127.0.0.1', 5353), type: 'dgram', listening: false };
    const r = takeFromStore([dgram], [parseListen('127.0.0.1:5353,name=x')]);
    expect(r.taken).toEqual([undefined]);
    expect(r.stale).toEqual([dgram]);
  });
});

interface Event {
  event: string;
  [k: string]: unknown;
}

/** The stand-in for systemd, driven over its stdin; sockact's stderr is the manager's. */
function manager() {
  const r: Run = run(PYTHON, [MANAGER], { stdio: ['pipe', 'pipe', 'pipe'] });
  const pids: number[] = [];
  defer(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    r.child.kill('SIGKILL');
  });
  const events = (): Event[] =>
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Event);
  let seen = 0;
  /** The next event of that kind after the ones already consumed; the ones before it are returned too. */
  async function next(kind: string): Promise<{ e: Event; skipped: Event[] }> {
    for (let i = 0; i < 750; i++) {
      const all = events();
      const at = all.findIndex((e, j) => j >= seen && e.event === kind);
      if (at >= 0) {
        const skipped = all.slice(seen, at);
        seen = at + 1;
        return { e: all[at]!, skipped };
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    throw new Error(`no ${kind} event\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  const send = (cmd: object) => r.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
  return {
    r,
    next,
    async start(args: string[], env: Record<string, string> = {}, unit: [string, number][] = []): Promise<number> {
      send({ cmd: 'start', argv: [process.execPath, SOCKACT, ...args], env, unit });
      const pid = (await next('started')).e.pid as number;
      pids.push(pid);
      return pid;
    },
    async stop(): Promise<void> {
      send({ cmd: 'stop' });
      await next('stopped');
    },
  };
}

function socketInode(pid: number, fd: number): number {
  const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  const m = /^socket:\[(\d+)\]$/.exec(link);
  if (!m) throw new Error(`fd ${fd} of ${pid} is ${link}`);
  return Number(m[1]);
}

/** The inodes of every socket a process holds. */
function socketInodes(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m ? [Number(m[1])] : [];
    } catch {
      return [];
    }
  });
}

/** The first child of `pid` (the app sockact started). */
function childOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0]);
}

/** Send one HTTP request on a new connection and resolve with the body of the answer. */
function request(port: number): { connected: Promise<void>; body: Promise<string> } {
  const s = connect({ host: '127.0.0.1', port });
  let data = '';
  s.setEncoding('utf8').on('data', (d: string) => (data += d));
  const connected = new Promise<void>((res, rej) => {
    s.once('connect', () => {
      s.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      res();
    });
    s.once('error', rej);
  });
  const body = new Promise<string>((res, rej) => {
    s.on('error', rej);
    s.on('close', () => res(data.slice(data.indexOf('\r\n\r\n') + 4)));
  });
  return { connected, body };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** How connecting to the port ends: 'connected' or the error code. */
function refused(port: number): Promise<string> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      res('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message));
  });
}

describe('sockact with the fd store (a stand-in for systemd)', () => {
  it(
    'stores its sockets when systemd sets $FDSTORE; ' +
      'a restart binds nothing again and answers the connections made while it was down',
    async () => {
      const m = manager();
      const args = ['-l', '127.0.0.1:0,name=web', '-l', '127.0.0.1:0', '--', process.execPath, APP];
      const first = await m.start(args, { FDSTORE: '4' });
      const web = (await m.next('stored')).e;
      const other = (await m.next('stored')).e;
      expect([web.name, other.name]).toEqual(['sockact/web', 'sockact/127.0.0.1%3A0']);
      await m.next('ready');
      // What was stored is the very socket sockact and its app serve on.
      expect(socketInodes(first)).toEqual(expect.arrayContaining([web.inode, other.inode]));
      expect([socketInode(childOf(first), 3), socketInode(childOf(first), 4)]).toEqual([web.inode, other.inode]);
      const port = Number(String(web.address).split(':')[1]);
      const before = await request(port).body;
      expect(before).toMatch(/^pid \d+ worker 0\n$/);

      await m.stop();
      // Down: the store still holds the listening sockets, so connecting succeeds and waits (the
      // app serves the first socket only).
      const waiting = [request(port), request(port), request(port)];
      await Promise.all(waiting.map((w) => w.connected));

      const second = await m.start(args, { FDSTORE: '4' });
      const { skipped } = await m.next('ready');
      // Nothing stored again, nothing removed: it took back what it had.
      expect(skipped.filter((e) => e.event !== 'started')).toEqual([]);
      expect([socketInode(second, 3), socketInode(second, 4)]).toEqual([web.inode, other.inode]);
      expect([socketInode(childOf(second), 3), socketInode(childOf(second), 4)]).toEqual([web.inode, other.inode]);
      const bodies = await Promise.all(waiting.map((w) => w.body));
      for (const b of bodies) expect(b).toMatch(/^pid \d+ worker 0\n$/);
      expect(bodies[0]).not.toBe(before); // answered by the new app
      expect(m.r.stderr).toContain(`listening on 127.0.0.1:${port} as fd 3 (web), taken back from the fd store`);
    },
  );

  it(
    'with --fd-store: removes a stored socket no -l asks for ' + "(FDSTOREREMOVE=1) and passes on a .socket unit's",
    async () => {
      const m = manager();
      const [webPort, adminPort, unitPort] = [await freePort(), await freePort(), await freePort()];
      const first = await m.start([
        '--fd-store',
        '-l',
        `127.0.0.1:${webPort},name=web`,
        '-l',
        `127.0.0.1:${adminPort},name=admin`,
        '--',
        process.execPath,
        APP,
      ]);
      const web = (await m.next('stored')).e;
      expect((await m.next('stored')).e.name).toBe('sockact/admin');
      await m.next('ready');
      expect(socketInode(childOf(first), 3)).toBe(web.inode);
      await m.stop();

      // admin is gone from the command line; a .socket unit now passes a socket named "web" first.
      const second = await m.start(
        ['--fd-store', '-l', `127.0.0.1:${webPort},name=web`, '--', process.execPath, APP],
        {},
        [['web', unitPort]],
      );
      const removed = (await m.next('removed')).e;
      expect(removed).toEqual({ event: 'removed', name: 'sockact/admin', count: 1 });
      const { skipped } = await m.next('ready');
      expect(skipped.filter((e) => e.event === 'stored')).toEqual([]);
      expect(socketInode(second, 4)).toBe(web.inode);
      // Closed by the store and by sockact: nothing listens on admin's port any more.
      expect(await refused(adminPort)).toBe('ECONNREFUSED');
      expect(m.r.stderr).toContain(`passing on inherited 127.0.0.1:${unitPort} as fd 3 (web)`);
      expect(m.r.stderr).toContain(`listening on 127.0.0.1:${webPort} as fd 4 (web), taken back from the fd store`);
      expect(m.r.stderr).toContain(`dropped 127.0.0.1:${adminPort} (sockact/admin) from the fd store`);
      expect(readFileSync(`/proc/${childOf(second)}/environ`, 'latin1').split('\0')).toContain(
        'LISTEN_FDNAMES=web:web',
      );
    },
  );

  it('re-stores a socket taken back under a new name (renamed -l), keeping the socket', async () => {
    const m = manager();
    const port = await freePort();
    await m.start(['--fd-store', '-l', `127.0.0.1:${port},name=old`, '--', process.execPath, APP]);
    const stored = (await m.next('stored')).e;
    await m.next('ready');
    await m.stop();
    const second = await m.start(['--fd-store', '-l', `127.0.0.1:${port},name=new`, '--', process.execPath, APP]);
    expect((await m.next('removed')).e).toMatchObject({ name: 'sockact/old', count: 1 });
    expect((await m.next('stored')).e).toMatchObject({ name: 'sockact/new', inode: stored.inode });
    await m.next('ready');
    expect(socketInode(second, 3)).toBe(stored.inode);
  });

  it('without a store it stores nothing, and says so once for --fd-store without NOTIFY_SOCKET', async () => {
    const r = run(process.execPath, [SOCKACT, '--fd-store', '--restart', 'no', '-l', '127.0.0.1:0', '--', 'true']);
    await r.exited;
    expect(r.stderr.match(/NOTIFY_SOCKET is not set/g)).toHaveLength(1);
  });
});
