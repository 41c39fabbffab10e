import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * vitest globalSetup: build dist/ once before any test file runs. Child-process tests run the
 * built bundles (bin/sockact.js, dist/src/index.bundle.js), so without this a change to src/
 * that was not rebuilt would still pass them.
 */
export default function setup(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  try {
    execFileSync('npm', ['run', 'build', '--silent'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed, so no test would run what src/ says:\n${stdout}${stderr}`);
  }
}
