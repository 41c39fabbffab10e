import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListen } from '../../src/protocol/address.js';
import { SockactError } from '../../src/protocol/errors.js';
import {
  type ControlHandlers,
  controlPathFor,
  liveControls,
  onFirstLine,
  parseJsonLine,
  sendControl,
  serveControl,
} from '../../src/supervise/control.js';
import { takeOver } from '../../src/supervise/takeover.js';
import { closeFd } from '../../src/sys/fd.js';
import { bind, listenSocket, socket, socketInfo } from '../../src/sys/socket.js';
import { perTest } from '../_support/tmp.js';
import { waitUntil } from '../_support/wait.js';

// The control socket's own logic, over real UNIX sockets in a private directory: the request
// parser, the answers, the stale-or-live check of an existing file, the takeover's side of the
// `handover` command. The sockact command's use of it is tested end to end in test/cli.

const { defer, dir } = perTest();

function handlers(over: Partial<ControlHandlers> = {}): ControlHandlers {
  return {
    status: () => ({ workers: 1 }),
    reload: async () => ({ ok: true, message: 'reloaded' }),
    stop: () => {},
    ...over,
  };
}

async function serve(over: Partial<ControlHandlers> = {}, path = join(dir(), 'ctl', 'x.sock')) {
  const server = await serveControl(path, handlers(over));
  defer(() => server.close());
  return server;
}

/** Send raw bytes, collect everything the server writes until it closes the connection. */
function raw(path: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path, () => s.write(text));
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (c: string) => (got += c));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

describe('parseJsonLine', () => {
  it.each([
    ['{"command":"status"}', { command: 'status' }],
    ['not json', undefined],
    // Valid JSON, but no request: each would make `req.command` throw or mean nothing.
    ['null', undefined],
    ['5', undefined],
    ['"status"', undefined],
    ['[{"command":"status"}]', undefined],
  ])('%s', (line, expected) => {
    expect(parseJsonLine(line)).toEqual(expected);
  });
});

describe('onFirstLine', () => {
  it('gives the first line once, across chunks, and ignores what follows', async () => {
    const [a, b] = await socketPair();
    const lines: string[] = [];
    onFirstLine(b, (l) => lines.push(l));
    a.write('{"comm');
    a.write('and":1}\nsecond line\n');
    await waitUntil('the first line', () => lines.length > 0);
    a.write('third\n');
    await new Promise((r) => setTimeout(r, 50));
    expect(lines).toEqual(['{"command":1}']);
  });

  it('ends the connection when 4096 bytes come without a newline', async () => {
    const [a, b] = await socketPair();
    const lines: string[] = [];
    onFirstLine(b, (l) => lines.push(l));
    const closed = new Promise((r) => b.once('close', r));
    a.write('x'.repeat(5000));
    await closed;
    expect(lines).toEqual([]);
  });
});

describe('serveControl', () => {
  it('answers status, reload and stop with one JSON line each', async () => {
    let stopped = 0;
    const server = await serve({ stop: () => void stopped++ });
    expect(await sendControl(server.path, 'status')).toEqual({ ok: true, status: { workers: 1 } });
    expect(await sendControl(server.path, 'reload')).toEqual({ ok: true, message: 'reloaded' });
    // stop answers at once and keeps the connection until sockact is gone: close it from here.
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(server.path, () => s.write('{"command":"stop"}\n'));
      s.setEncoding('utf8');
      s.once('data', (c: string) => {
        s.destroy();
        resolve(c);
      });
    });
    expect(JSON.parse(answer)).toEqual({ ok: true, message: 'stopping' });
    expect(stopped).toBe(1);
  });

  it.each([
    ['not json\n', { ok: false, message: 'not a JSON request' }],
    ['null\n', { ok: false, message: 'not a JSON request' }],
    ['{"command":"dance"}\n', { ok: false, message: 'unknown command "dance"' }],
  ])('refuses %j in one line and closes, and serves on', async (request, expected) => {
    const server = await serve();
    expect(JSON.parse(await raw(server.path, request))).toEqual(expected);
    expect((await sendControl(server.path, 'status')).ok).toBe(true);
  });

  it('makes the socket file in a 0700 directory, and removes it on close', async () => {
    const path = join(dir(), 'ctl', 'y.sock');
    const server = await serveControl(path, handlers());
    expect(lstatSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect(lstatSync(path).isSocket()).toBe(true);
    server.close();
    expect(() => lstatSync(path)).toThrow(/ENOENT/);
  });

  it('replaces a stale socket file (nobody answers), refuses a live one and anything not a socket', async () => {
    const d = join(dir(), 'ctl');
    mkdirSync(d, { mode: 0o700 });
    // A socket file whose sockact died: bound, never listening.
    const stale = join(d, 'stale.sock');
    const fd = socket('unix', 'stream');
    bind(fd, { family: 'unix', path: stale });
    closeFd(fd);
    await serve({}, stale);
    expect((await sendControl(stale, 'status')).ok).toBe(true);

    const err = await serveControl(stale, handlers()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SockactError);
    expect(err).toMatchObject({
      code: 'ERR_CONTROL',
      message: `can't make the control socket ${stale}: another sockact is using it`,
    });

    const file = join(d, 'file.sock');
    writeFileSync(file, 'data');
    await expect(serveControl(file, handlers())).rejects.toMatchObject({
      message: `can't make the control socket ${file}: something else is there`,
    });
  });

  it('refuses a control directory that is a symlink', async () => {
    const real = dir();
    const link = join(dir(), 'link');
    symlinkSync(real, link);
    const path = join(link, 'x.sock');
    await expect(serveControl(path, handlers())).rejects.toMatchObject({
      code: 'ERR_CONTROL',
      message:
        `can't make the control socket ${path}: ${link} is a symlink ` +
        `(sockact does not look through one for its control socket)`,
    });
  });
});

describe('sendControl and liveControls', () => {
  it('says no sockact is listening where nothing is', async () => {
    const path = join(dir(), 'none.sock');
    await expect(sendControl(path, 'status')).rejects.toMatchObject({
      code: 'ERR_CONTROL',
      message: `can't reach the control socket ${path}: no sockact is listening there`,
    });
  });

  it('lists the names of the live control sockets only', async () => {
    const d = join(dir(), 'ctl');
    await serve({}, join(d, 'web.sock'));
    await serve({}, join(d, 'api.sock'));
    const fd = socket('unix', 'stream');
    bind(fd, { family: 'unix', path: join(d, 'dead.sock') });
    closeFd(fd);
    expect((await liveControls(d)).sort()).toEqual(['api', 'web']);
    expect(await liveControls(join(d, 'missing'))).toEqual([]);
  });

  it('controlPathFor refuses a --name that is not a plain file name, as a usage error', () => {
    for (const name of ['../x', '.hidden', 'a/b', 'a b', '']) {
      expect(() => controlPathFor(name)).toThrow(expect.objectContaining({ code: 'ERR_USAGE', exitCode: 2 }));
    }
    expect(controlPathFor('web-1.prod@host')).toMatch(/\/web-1\.prod@host\.sock$/);
  });
});

describe('the takeover side of the control socket (the handover command)', () => {
  it('sends the offered sockets, then retires on the retire request, naming the sockets kept', async () => {
    const fd = socket('inet', 'stream');
    bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    listenSocket(fd, 8);
    defer(() => closeFd(fd));
    const local = socketInfo(fd).local!;
    if (local.family === 'unix') throw new Error('not an IP socket');
    const retired: (readonly number[])[] = [];
    let abandoned = 0;
    const server = await serve({
      handover: () => ({
        fds: [fd],
        names: ['web'],
        message: JSON.stringify({ pid: process.pid }),
        retire: (taken) => retired.push(taken),
        abandoned: () => void abandoned++,
      }),
    });
    const took = await takeOver(server.path, [parseListen(`127.0.0.1:${local.port}`)], () => {});
    defer(() => took.abandon());
    expect([...took.taken].length).toBe(1);
    expect(socketInfo(took.bound[0]!.fd).local).toEqual(local);
    await took.session!.retire();
    expect(retired).toEqual([[0]]);
    expect(abandoned).toBe(0);
  });

  it('reports an abandoned takeover when the new sockact hangs up before retire', async () => {
    let abandoned = 0;
    const server = await serve({
      handover: () => ({ fds: [], names: [], message: '{}', retire: () => {}, abandoned: () => void abandoned++ }),
    });
    const took = await takeOver(server.path, [], () => {});
    took.abandon();
    await waitUntil('abandoned()', () => abandoned > 0);
    expect(abandoned).toBe(1);
  });

  it('refuses in the fd-bundle framing when there is nothing to hand over', async () => {
    const server = await serve();
    await expect(takeOver(server.path, [], () => {})).rejects.toMatchObject({
      code: 'ERR_TAKEOVER',
      message:
        `can't take over from the sockact at ${server.path}: ` +
        `it refused: this sockact does not hand over its sockets`,
    });
  });
});

/** Two connected net.Sockets over a UNIX socket in a private directory. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const path = join(dir(), 'pair.sock');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(path, r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const a = net.connect(path);
  const b = await accepted;
  server.close();
  defer(() => {
    a.destroy();
    b.destroy();
  });
  return [a, b];
}
