// contrib/systemd: every unit file passes `systemd-analyze verify` with no message at all
// (it exits 0 even when it ignores a line it cannot parse, so any output is a failure), and every
// one is exactly what `sockact unit` makes of the command line written in its header, so the
// units cannot drift from the generator. Units name their install paths (/srv/hello,
// /usr/local/bin/sockact); the test points them at this checkout, since verify also checks that
// ExecStart's program exists and is executable.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SOCKACT } from '../_support/launcher.js';
import { generatedPart, localize, madeWith, root, unitsDir } from '../_support/units.js';

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-units-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const isUnit = (f: string) => /\.(socket|service)$/.test(f);
const units = readdirSync(unitsDir).filter(isUnit);
const units253 = readdirSync(join(unitsDir, '253')).filter(isUnit);
const dropIns = readdirSync(unitsDir).filter((f) => f.endsWith('.d'));
const read = (path: string) => readFileSync(join(unitsDir, path), 'utf8');

/**
 * `systemd-analyze verify` on localized copies of these units (and of the drop-in directories,
 * which verify reads only from the unit search path: SYSTEMD_UNIT_PATH, a trailing ':' keeping
 * the defaults). Its whole output.
 */
function verify(files: Record<string, string>): string {
  const dir = scratch();
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  const names = Object.keys(files).filter(isUnit);
  const r = spawnSync('systemd-analyze', ['verify', ...names.map((u) => join(dir, u))], {
    encoding: 'utf8',
    cwd: dir,
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
  });
  return `${r.stdout}${r.stderr}${r.status === 0 ? '' : `exit ${r.status}`}`;
}

/** The contrib files (units and drop-ins) under `dir`, localized, by path relative to it. */
function localized(dir: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    if (n.endsWith('.d'))
      for (const f of readdirSync(join(unitsDir, dir, n))) out[join(n, f)] = localize(read(join(dir, n, f)));
    else out[n] = localize(read(join(dir, n)));
  }
  return out;
}

describe('contrib/systemd units', () => {
  it('has a unit set for each way of deploying', () => {
    // (a) the app activated directly; (b) sockact binding its own sockets; (c) .socket units
    // sockact passes through; (d) Accept=yes; (b) again for systemd 253+; sandboxing drop-ins.
    expect(units.sort()).toEqual([
      'hello-accept.socket',
      'hello-accept@.service',
      'hello.service',
      'hello.socket',
      'sockact-fdstore.service',
      'sockact-hello.service',
      'sockact-inherit-admin.socket',
      'sockact-inherit-web.socket',
      'sockact-inherit.service',
      'sockact-takeover.service',
    ]);
    expect(units253).toEqual(['sockact-hello.service']);
    expect(dropIns.sort()).toEqual(['hello-accept@.service.d', 'hello.service.d']);
  });

  it('systemd-analyze verify prints nothing for any of them, drop-ins included', () => {
    expect(verify(localized('', [...units, ...dropIns]))).toBe('');
  });

  it(
    '253/sockact-hello.service (Type=notify-reload, systemd 253+) verifies with the 252 ' +
      'type in its place, and differs from the 252 unit in the type and ExecReload= only',
    () => {
      const u = read('253/sockact-hello.service');
      expect(u).toMatch(/^Type=notify-reload$/m);
      // systemd 252 cannot parse Type=notify-reload (the check below shows it): verify the rest with Type=notify.
      expect(verify({ 'sockact-hello.service': localize(u) })).toMatch(
        /Failed to parse service type, ignoring: notify-reload/,
      );
      expect(verify({ 'sockact-hello.service': localize(u).replace(/^Type=notify-reload$/m, 'Type=notify') })).toBe('');
      const settings = (text: string) =>
        generatedPart(text)
          .split('\n')
          .filter((l) => !l.startsWith('#'));
      const only252 = settings(read('sockact-hello.service')).filter((l) => !settings(u).includes(l));
      const only253 = settings(u).filter((l) => !settings(read('sockact-hello.service')).includes(l));
      expect(only252).toEqual(['Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID']);
      expect(only253).toEqual(['Type=notify-reload']);
    },
  );

  const HAND_WRITTEN = ['sockact-fdstore.service', 'sockact-takeover.service'];
  it(
    'each unit is exactly what `sockact unit` makes of the ' + 'command line in its header, and each set is complete',
    () => {
      const made = new Map<string, Record<string, string>>();
      const generate = (args: string[]): Record<string, string> => {
        const key = args.join(' ');
        if (!made.has(key)) {
          const out = scratch();
          // In /srv/hello (here examples/hello), which becomes WorkingDirectory=.
          const r = spawnSync(process.execPath, [SOCKACT, 'unit', '--out', out, ...args], {
            encoding: 'utf8',
            cwd: join(root, 'examples', 'hello'),
          });
          expect(r.status, r.stderr).toBe(0);
          made.set(key, Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')])));
        }
        return made.get(key)!;
      };
      const checked = new Set<string>();
      for (const [dir, list] of [
        ['', units],
        ['253', units253],
      ] as const) {
        for (const name of list) {
          // Written by hand: what `sockact unit` has no shape for (ExecReload= running a takeover).
          if (HAND_WRITTEN.includes(name)) continue;
          const text = read(join(dir, name));
          const args = madeWith(text);
          expect(args, `${name} names the command line it was made with`).toBeDefined();
          const set = generate(args!);
          expect(localize(generatedPart(text)), name).toBe(set[name]);
          // Every file of the set is in contrib/systemd beside this one.
          for (const f of Object.keys(set)) expect(list, `${name}'s set`).toContain(f);
          checked.add(join(dir, name));
        }
      }
      expect(checked.size).toBe(units.length + units253.length - HAND_WRITTEN.length);
    },
  );

  it('still fails loudly on a unit it cannot parse, and reads the drop-ins (the checks have teeth)', () => {
    expect(verify({ 'bad.service': `[Service]\nType=notify-reload\nExecStart=${process.execPath} -e 0\n` })).toMatch(
      /Failed to parse service type/,
    );
    const files = localized('', ['hello.service', 'hello.socket', 'hello.service.d']);
    files['hello.service.d/sandbox.conf'] += 'ProtectEverything=yes\n';
    expect(verify(files)).toMatch(/sandbox\.conf:\d+: Unknown key 'ProtectEverything'/);
  });
});
