// What the supervisor needs and can be refused (the control socket's directory, the --watch
// paths) is refused before anything is bound or started: one line, exit 2. Each case runs the
// real sockact with -l on a port this test holds, so a sockact that bound first would fail with
// EADDRINUSE instead; and the program would leave a file behind if it had been started.
import { chmodSync, existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, run, SOCKACT } from '../_support/launcher.js';

const { defer, dir } = perTest();

async function busyPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(() => server.close());
  return (server.address() as { port: number }).port;
}

/**
 * sockact with `args`, on a port that is taken, running a program that leaves a file when started;
 * `via` runs it through another command first (unshare for a read-only mount).
 */
async function refused(
  args: string[],
  via: string[] = [],
): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const marker = join(dir(), 'started');
  const port = await busyPort();
  const argv = [SOCKACT, '-l', `127.0.0.1:${port}`, ...args, '--', 'sh', '-c', `touch ${marker}; sleep 30`];
  const r = via.length ? run(via[0]!, [...via.slice(1), process.execPath, ...argv]) : run(process.execPath, argv);
  defer(() => r.child.kill('SIGKILL'));
  const { code } = await r.ended('a refused --control or --watch');
  return { code, stderr: r.stderr, started: existsSync(marker) };
}

describe('sockact --control: a path that cannot be made is refused before binding', () => {
  it(
    '/proc/x/y (mkdir says ENOENT under a parent that exists): ' + 'one line, exit 2, nothing bound or started',
    async () => {
      const r = await refused(['--control', '/proc/x/y']);
      expect(r.stderr).toBe(
        "sockact: can't make the control socket /proc/x/y: " +
          "can't create the directory /proc/x: no such file or directory\n",
      );
      expect(r.code).toBe(2);
      expect(r.started).toBe(false);
    },
  );

  it('a file where a directory should be is named', async () => {
    const d = dir();
    writeFileSync(join(d, 'file'), '');
    const r = await refused(['--control', join(d, 'file/sub/c.sock')]);
    expect(r.stderr).toBe(
      `sockact: can't make the control socket ${d}/file/sub/c.sock: ${d}/file is not a directory\n`,
    );
    expect(r.code).toBe(2);
    expect(r.started).toBe(false);
  });

  it('a regular file at the path itself is never replaced', async () => {
    const d = dir();
    writeFileSync(join(d, 'c.sock'), 'data');
    const r = await refused(['--control', join(d, 'c.sock')]);
    expect(r.stderr).toBe(`sockact: can't make the control socket ${d}/c.sock: something else is there\n`);
    expect(r.code).toBe(2);
    expect(statSync(join(d, 'c.sock')).size).toBe(4);
  });

  it('a read-only file system (a read-only tmpfs in a mount namespace of its own)', async () => {
    const ro = join(dir(), 'ro');
    mkdirSync(ro);
    // unshare -rm: a private mount namespace (as a mapped root), so the mount goes with the process.
    const via = ['unshare', '-rm', 'sh', '-c', `mount -t tmpfs -o ro tmpfs ${ro} && exec "$@"`, 'sh'];
    const made = await refused(['--control', join(ro, 'sub/c.sock')], via);
    expect(made.stderr).toBe(
      `sockact: can't make the control socket ${ro}/sub/c.sock: ` +
        `can't create the directory ${ro}/sub: read-only file system\n`,
    );
    expect(made.code).toBe(2);
    const inIt = await refused(['--control', join(ro, 'c.sock')], via);
    expect(inIt.stderr).toBe(`sockact: can't make the control socket ${ro}/c.sock: ${ro}: read-only file system\n`);
    expect(inIt.code).toBe(2);
    expect(made.started || inIt.started).toBe(false);
  });

  it('directories it makes are 0700 and its own; an existing one is left as it is', async () => {
    const d = dir();
    chmodSync(d, 0o755);
    const r = run(process.execPath, [SOCKACT, '-l', '127.0.0.1:0', '--control', join(d, 'a/b/c.sock'), '--', 'true']);
    expect((await r.ended('its program exited')).code).toBe(0);
    for (const sub of ['a', 'a/b']) expect(statSync(join(d, sub)).mode & 0o7777).toBe(0o700);
    expect(statSync(d).mode & 0o7777).toBe(0o755);
  });
});

describe('sockact --watch: a path that does not exist is refused before binding', () => {
  it('names the path: one line, exit 2, nothing bound or started', async () => {
    const missing = join(dir(), 'no-such-dir');
    const r = await refused(['--watch', missing]);
    expect(r.stderr).toBe(`sockact: --watch ${missing}: no such file or directory\n`);
    expect(r.code).toBe(2);
    expect(r.started).toBe(false);
  });
});
