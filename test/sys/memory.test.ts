import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../_support/launcher.js';

/**
 * The young generation's size after a run whose objects survive scavenges (as a supervisor's
 * children's objects do, reload after reload), in a fresh Node, with or without
 * holdYoungGeneration() first. Counts, not times: V8 grows the space after enough survivors.
 */
function newSpaceAfterSurvivors(hold: boolean): number {
  const script = `
    import v8 from 'node:v8';
    if (${hold}) (await import(${JSON.stringify(join(ROOT, 'dist/src/sys/memory.js'))})).holdYoungGeneration();
    const kept = new Array(50000);
    for (let i = 0; i < 200000; i++) kept[i % 50000] = { i, s: 'x' + i };
    process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));
  `;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

describe('holdYoungGeneration', () => {
  it("keeps V8's young generation at its starting size where Node's default grows it", () => {
    const grown = newSpaceAfterSurvivors(false);
    const held = newSpaceAfterSurvivors(true);
    expect(grown).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(held).toBeLessThanOrEqual(grown / 2);
  });
});
