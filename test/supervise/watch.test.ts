import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchPaths } from '../../src/supervise/watch.js';
import { perTest } from '../_support/tmp.js';

// The watcher's own logic on a real directory tree (inotify): debouncing, what is ignored,
// directories that appear later, a file replaced the way editors save. The reload it starts is
// tested end to end in test/supervise/e2e.test.ts. Waits are for events, never fixed sleeps:
// "nothing happened" is shown by a later change being the only one reported.

const { defer, dir } = perTest();

function watcher(paths: string[], debounceMs = 30) {
  const changes: string[] = [];
  let wake: (() => void) | undefined;
  const w = watchPaths(paths, debounceMs, (path) => {
    changes.push(path);
    wake?.();
  });
  defer(() => w.close());
  /** Resolves at the next reported change. */
  const next = () => new Promise<void>((resolve) => (wake = resolve));
  return { w, changes, next };
}

describe('watchPaths', () => {
  it(
    'reports a burst of changes once, after it has been ' + 'quiet for the debounce time, naming the last path',
    async () => {
      const d = dir();
      const { changes, next } = watcher([d]);
      const seen = next();
      for (let i = 0; i < 5; i++) writeFileSync(join(d, `f${i}.js`), String(i));
      await seen;
      expect(changes).toEqual([join(d, 'f4.js')]);
    },
  );

  it('ignores node_modules and .git, at any depth', async () => {
    const d = dir();
    for (const sub of ['node_modules', '.git', 'src/node_modules']) mkdirSync(join(d, sub), { recursive: true });
    const { w, changes, next } = watcher([d]);
    expect(w.size).toBe(2); // d and d/src
    writeFileSync(join(d, 'node_modules', 'x.js'), '1');
    writeFileSync(join(d, '.git', 'HEAD'), '1');
    writeFileSync(join(d, 'src', 'node_modules', 'y.js'), '1');
    mkdirSync(join(d, 'node_modules', 'pkg'));
    const seen = next();
    // Written last, after the ignored ones: had those counted, they would have been in this burst.
    setTimeout(() => writeFileSync(join(d, 'src', 'app.js'), '1'), 100);
    await seen;
    expect(changes).toEqual([join(d, 'src', 'app.js')]);
    expect(w.size).toBe(2);
  });

  it('watches a directory made after the start, and what is written in it', async () => {
    const d = dir();
    const { w, changes, next } = watcher([d]);
    let seen = next();
    mkdirSync(join(d, 'lib'));
    await seen;
    expect(w.size).toBe(2);
    seen = next();
    writeFileSync(join(d, 'lib', 'new.js'), '1');
    await seen;
    expect(changes.at(-1)).toBe(join(d, 'lib', 'new.js'));
  });

  it('follows a single file replaced by rename, as editors save, and ignores its neighbours', async () => {
    const d = dir();
    const file = join(d, 'config.json');
    writeFileSync(file, '{}');
    const { changes, next } = watcher([file]);
    writeFileSync(join(d, 'other.json'), '{}'); // a neighbour: not reported
    let seen = next();
    writeFileSync(join(d, '.config.json.swp'), '{"a":1}');
    renameSync(join(d, '.config.json.swp'), file);
    await seen;
    expect(changes).toEqual([file]);
    // The watch is on the directory, so the new inode is watched as well as the old one was.
    seen = next();
    writeFileSync(file, '{"a":2}');
    await seen;
    expect(changes).toEqual([file, file]);
  });

  it('reports nothing after close(), and keeps no timer', async () => {
    const d = dir();
    const { w, changes } = watcher([d], 10);
    writeFileSync(join(d, 'a.js'), '1');
    w.close();
    expect(w.size).toBe(0);
    // A second watcher on the same tree sees the next change; the closed one must stay silent.
    const other = watcher([d], 10);
    const seen = other.next();
    writeFileSync(join(d, 'b.js'), '1');
    await seen;
    await new Promise((r) => setTimeout(r, 50));
    expect(changes).toEqual([]);
  });

  it('throws for a path that does not exist', () => {
    expect(() => watchPaths([join(dir(), 'missing')], 10, () => {})).toThrow(/ENOENT/);
  });
});
