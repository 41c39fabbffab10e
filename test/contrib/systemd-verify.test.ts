// contrib/systemd: every unit file passes `systemd-analyze verify` with no message at all
// (it exits 0 even when it ignores a line it cannot parse, so any output is a failure).
// Units name their install paths (/srv/hello, /usr/local/bin/sockact); the test points them at
// this checkout, since verify also checks that ExecStart's program exists and is executable.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localize, unitsDir } from '../_support/units.js';

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-units-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const units = readdirSync(unitsDir).filter((f) => /\.(socket|service)$/.test(f));

describe('contrib/systemd units', () => {
  it('has a unit for each way of deploying', () => {
    expect(units).toEqual(
      expect.arrayContaining(['hello.socket', 'hello.service', 'hello-accept.socket', 'hello-accept@.service', 'sockact-hello.service', 'sockact-inherit.socket', 'sockact-inherit.service', 'sockact-fdstore.service']),
    );
  });

  it('systemd-analyze verify prints nothing for any of them', () => {
    const dir = scratch();
    for (const u of units) writeFileSync(join(dir, u), localize(readFileSync(join(unitsDir, u), 'utf8')));
    const r = spawnSync('systemd-analyze', ['verify', ...units.map((u) => join(dir, u))], { encoding: 'utf8', cwd: dir });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it('still fails loudly on a unit it cannot parse (the check has teeth)', () => {
    const dir = scratch();
    writeFileSync(join(dir, 'bad.service'), `[Service]\nType=notify-reload\nExecStart=${process.execPath} -e 0\n`);
    const r = spawnSync('systemd-analyze', ['verify', join(dir, 'bad.service')], { encoding: 'utf8', cwd: dir });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Failed to parse service type/);
  });
});
