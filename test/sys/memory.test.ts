import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../_support/launcher.js';

const MEMORY = JSON.stringify(join(ROOT, 'dist/src/sys/memory.js'));

/**
 * Runs `body` in a fresh Node (an async function body; `held` is holdMemory(options)'s result, or
 * undefined when `options` is false) and returns what it writes on stdout, as JSON.
 */
function fresh<T = number>(options: false | Record<string, unknown>, body: string, args: string[] = []): T {
  const script =
    `
    const v8 = require('node:v8');
    (async () => {
      const held = ${options === false} ? undefined : ` +
    `(await import(${MEMORY})).holdMemory(${JSON.stringify({ delayMs: 5, ...(options || {}) })});
      ${body}
    })();
  `;
  return JSON.parse(execFileSync(process.execPath, [...args, '-e', script], { encoding: 'utf8' }));
}

const space = (name: string) => `v8.getHeapSpaceStatistics().find((s) => s.space_name === '${name}').space_size`;

// Counts and sizes, never times: each V8 decision below follows from how much survived.
describe('holdMemory', () => {
  it("keeps V8's young generation at its starting size where Node's default grows it", () => {
    const body = `
      const kept = new Array(50000);
      for (let i = 0; i < 200000; i++) kept[i % 50000] = { i, s: 'x' + i };
      process.stdout.write(String(${space('new_space')}));
    `;
    const grown = fresh(false, body);
    const held = fresh({}, body);
    expect(grown).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(held).toBeLessThanOrEqual(grown / 2);
  });

  it(
    'keeps the old space near its live size when each ended generation ' +
      'is followed by afterExit(), where V8 lets the garbage pile up',
    () => {
      // 100 "generations": ~50 KB of objects each, kept while ~2 MB of short-lived garbage passes
      // (so scavenges promote them, as a serving child's objects are), then dropped at its "exit".
      const generations = (afterExit: boolean) =>
        `
      const before = ${space('old_space')};
      for (let g = 0; g < 100; g++) {
        let generation = Array.from({ length: 500 }, (_, i) => ` +
        `({ g, i, name: 'worker ' + g + '.' + i, list: [g, i, g + i] }));
        const trash = new Array(64);
        for (let j = 0; j < 40000; j++) trash[j % 64] = { j, s: 'tmp' + j };
        generation = undefined;
        if (${afterExit}) held.afterExit();
        await new Promise((r) => setTimeout(r, 10));
      }
      process.stdout.write(JSON.stringify({ before, after: ${space('old_space')} }));
    `;
      const piled = fresh<{ before: number; after: number }>({}, generations(false));
      const collected = fresh<{ before: number; after: number }>({}, generations(true));
      const MB = 1024 * 1024;
      expect(piled.after - piled.before).toBeGreaterThanOrEqual(3 * MB);
      expect(collected.after - collected.before).toBeLessThanOrEqual(1.5 * MB);
    },
  );

  it("turns V8's optimising compilers off (TurboFan, and Maglev where V8 has it on), unless asked to optimise", () => {
    // %GetOptimizationStatus bits (V8's runtime-test.cc, OptimizationStatus): 4 optimised, 5 Maglev, 6 TurboFan.
    const body =
      `
      function hot(x) { return (x * 31 + 7) % 1000003; }
      let s = 0;
      for (let i = 0; i < 5e6; i++) s = hot(s + i);
      process.stdout.write(JSON.stringify(` +
      `{ optimised: (%GetOptimizationStatus(hot) & (1 << 4 | 1 << 5 | 1 << 6)) !== 0, s }));
    `;
    const optimised = (options: false | Record<string, unknown>) =>
      fresh<{ optimised: boolean }>(options, body, ['--allow-natives-syntax']).optimised;
    expect(optimised(false)).toBe(true);
    expect(optimised({})).toBe(false);
    expect(optimised({ optimise: true })).toBe(true);
  });

  it('never keeps the process alive, and leaves no gc where an app could see it', () => {
    const body = `
      const t0 = Date.now();
      held.afterExit();
      process.on('exit', () => process.stdout.write(JSON.stringify({ gc: typeof globalThis.gc, ms: Date.now() - t0 })));
    `;
    const r = fresh<{ gc: string; ms: number }>({ delayMs: 60_000 }, body);
    expect(r.gc).toBe('undefined');
    expect(r.ms).toBeLessThan(30_000); // the 60 s timer did not hold the process
  });
});
