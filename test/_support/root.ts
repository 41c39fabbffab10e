import { it } from 'vitest';

export const IS_ROOT = process.getuid?.() === 0;

/**
 * it() for a check that proves something only when the tests run as root, which may become
 * another user (nobody); an unprivileged process can only "become" itself, which proves nothing.
 * Otherwise the test is skipped and its name says why.
 */
export function itAsRoot(name: string, fn: () => Promise<void> | void): void {
  if (IS_ROOT) it(name, fn);
  else it.skip(`${name} (skipped: needs root)`, fn);
}
