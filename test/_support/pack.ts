import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { ROOT } from './launcher.js';
import { tempDir } from './tmp.js';

export interface Packed {
  /** The .tgz, removed after the test file. */
  tarball: string;
  /** The paths it holds, relative to the package root. */
  files: string[];
}

/**
 * `npm pack` of this checkout, as published. --ignore-scripts: the dist/ that vitest's globalSetup
 * built is packed as it is, and no other test sees it rebuilt under its feet. Call it in beforeAll.
 */
export function packOnce(): Packed {
  const packed = tempDir();
  afterAll(packed.cleanup);
  const args = ['pack', '--ignore-scripts', '--json', '--pack-destination', packed.dir];
  const json = execFileSync('npm', args, { cwd: ROOT, encoding: 'utf8' });
  const [out] = JSON.parse(json) as { filename: string; files: { path: string }[] }[];
  return { tarball: join(packed.dir, out!.filename), files: out!.files.map((f) => f.path).sort() };
}

/** Unpacks `tarball` as `dir`/node_modules/sockact (what an install would put there, without the dependencies). */
export function unpackInto(tarball: string, dir: string): string {
  const pkg = join(dir, 'node_modules/sockact');
  mkdirSync(pkg, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', pkg, '--strip-components=1']);
  return pkg;
}
