// An app that was not activated runs every API without loading koffi (so it also runs where
// koffi cannot): checked in a real child that imports 'sockact' as users do (the bundle that
// package.json's exports name), by its module cache and by its memory map.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FIXTURE, ROOT, runActivated } from './_helpers.js';

describe('not activated', () => {
  it('binds the fallback and never loads koffi', async () => {
    const child = runActivated([], process.execPath, [FIXTURE, 'plain'], {}, { trampoline: false });
    const got = await child.json();
    await child.stop();
    expect(got.result).toMatchObject({ activated: false, address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(got.calls).toEqual({
      listenFds: [],
      listeners: [],
      ready: false,
      status: false,
      barrier: false,
      watchdogEnabled: 0,
      startWatchdog: 0,
      shutdown: { forced: 0 },
    });
    expect(got.entry).toBe(pathToFileURL(path.join(ROOT, 'dist/src/index.bundle.js')).href);
    expect(got.koffiInRequireCache).toBe(false);
    expect(got.koffiMapped).toBe(false);
  });

  it('the control: an activated child does load koffi, so the check above can fail', async () => {
    const sys = await import('../../src/sys/index.js');
    const fd = sys.socket('inet', 'stream');
    sys.bind(fd, { family: 'inet', address: '127.0.0.1', port: 0 });
    sys.listenSocket(fd, 8);
    // `plain` mode in an activated child: listen() adopts fd 3 through the seam.
    const child = runActivated([fd], process.execPath, [FIXTURE, 'plain']);
    const got = await child.json();
    await child.stop();
    expect(got.result).toMatchObject({ activated: true, fd: 3 });
    expect(got.calls.listeners).toBe('ERR_FD_ADOPTED');
    expect(got.entry).toBe(pathToFileURL(path.join(ROOT, 'dist/src/index.bundle.js')).href);
    expect(got.koffiMapped).toBe(true);
  });
});

describe("importing 'sockact' loads only what is used", () => {
  // Node's modules a fresh process loads for `import { listenFds } from 'sockact'; listenFds()`,
  // beyond those an empty ES module loads: no node:net, and no ES facade of node:fs or node:util
  // (whose getters load streams, parseArgs and MIMEType; scripts/build.js says why).
  const HEAVY = /^NativeModule (net|stream|internal\/fs\/streams|internal\/util\/parse_args\/\w+|internal\/mime)$/;
  const heavyLoadedBy = (script: string): string[] => {
    const list = `process.stdout.write(JSON.stringify(process.moduleLoadList))`;
    const run = (s: string): string[] =>
      JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', `${s}\n${list}`], { cwd: ROOT, encoding: 'utf8' }),
      );
    const empty = new Set(run(''));
    return run(script).filter((m) => !empty.has(m) && HEAVY.test(m));
  };

  it('listenFds() not activated: none of net, stream, fs streams, parseArgs, MIMEType', () => {
    expect(heavyLoadedBy(`import { listenFds } from 'sockact'; listenFds();`)).toEqual([]);
  });

  it('the control: the same beside an ES import of node:fs loads streams, so the check above can fail', () => {
    const script = `import { listenFds } from 'sockact'; import { readFileSync } from 'node:fs'; listenFds();`;
    expect(heavyLoadedBy(script)).toContain('NativeModule internal/fs/streams');
  });
});
