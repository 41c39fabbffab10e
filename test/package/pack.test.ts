// npm package hygiene: `npm pack` holds what a user needs (dist, bin, contrib, README, LICENSE, and
// what the README links: docs, examples, BENCHMARKS.md)
// and nothing else, and the tarball installed into a fresh directory works: `npx sockact --help`,
// a real launch (koffi loaded from the installed tree), and `import 'sockact'`.
// The install may reach the registry for koffi and yargs (--prefer-offline: the npm cache first);
// scripts are not run by `npm pack --ignore-scripts`, so the dist/ built by pretest is packed
// as it is, and no other test sees it rebuilt under its feet.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, ROOT } from '../_support/launcher.js';

const { dir } = perTest();

interface Packed {
  filename: string;
  files: { path: string }[];
}

function pack(dest: string): Packed {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return (JSON.parse(out) as Packed[])[0]!;
}

describe('npm pack', () => {
  it(
    'holds dist, bin, contrib, docs, examples, README, ' + 'BENCHMARKS and LICENSE, and no source, test or bench file',
    () => {
      const files = pack(dir())
        .files.map((f) => f.path)
        .sort();
      for (const f of [
        'LICENSE',
        'README.md',
        'package.json',
        'bin/sockact.js',
        'dist/src/index.bundle.js',
        'dist/src/index.d.ts',
        'dist/src/cli/main.bundle.js',
        'dist/src/cli/main.lazy.js',
        'dist/src/cli/main.shared.js',
        'dist/src/cli/main.cjs',
        'dist/src/launch/index.js',
        'contrib/systemd/hello.service',
        'docs/reload.svg',
        'examples/hello/server.js',
        'BENCHMARKS.md',
      ]) {
        expect(files).toContain(f);
      }
      const stray = files.filter(
        (f) =>
          !/^(LICENSE|README\.md|BENCHMARKS\.md|package\.json|bin\/|dist\/src\/|contrib\/|docs\/|examples\/)/.test(f) ||
          (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)),
      );
      expect(stray).toEqual([]);
      // dist/ is not cleaned by tsc: a compiled file whose source is gone would ship unnoticed.
      const stale = files.filter(
        (f) =>
          /^dist\/src\/.*(?<!\.bundle|\.lazy|\.shared)\.js$/.test(f) &&
          !existsSync(join(ROOT, f.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
      );
      expect(stale).toEqual([]);
    },
  );

  it('installs into a fresh directory, where npx sockact --help, a launch and import work', {
    timeout: 180_000,
  }, () => {
    const d = dir();
    const { filename } = pack(d);
    writeFileSync(join(d, 'package.json'), '{ "name": "fresh", "private": true, "type": "module" }\n');
    const install = spawnSync(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', `./${filename}`],
      {
        cwd: d,
        encoding: 'utf8',
        timeout: 150_000,
      },
    );
    expect(install.status, install.stderr).toBe(0);

    const help = spawnSync('npx', ['--no-install', 'sockact', '--help'], { cwd: d, encoding: 'utf8' });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sockact \[options\] \[--\] PROGRAM \[ARGS\.\.\.\]/);

    // A launch binds through koffi, as installed here (not this checkout's node_modules).
    const bin = join(d, 'node_modules', '.bin', 'sockact');
    const launch = spawnSync(
      bin,
      ['-q', '-l', '127.0.0.1:0,name=web', '--', 'sh', '-c', 'echo "$LISTEN_FDS $LISTEN_FDNAMES"'],
      { cwd: d, encoding: 'utf8' },
    );
    expect({ status: launch.status, stdout: launch.stdout, stderr: launch.stderr }).toEqual({
      status: 0,
      stdout: '1 web\n',
      stderr: '',
    });

    const imported = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('sockact'); console.log(typeof m.listen, " +
          "typeof m.notify.ready, (await import('sockact/launch')).bindAll.name)",
      ],
      { cwd: d, encoding: 'utf8' },
    );
    expect(imported.stdout, imported.stderr).toBe('function function bindAll\n');
  });
});
