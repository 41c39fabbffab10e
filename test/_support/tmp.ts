// Private places for one test run: temp directories (for UNIX socket paths and files a child
// writes) and abstract socket names no other run can hold.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';

/** A fresh private directory; `cleanup` removes it with everything in it. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'sockact-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A private directory for the whole test file, removed after its last test. Call at the top level. */
export function fileTempDir(): string {
  const { dir, cleanup } = tempDir();
  afterAll(cleanup);
  return dir;
}

/**
 * Per-test clean-up for a test file (call at the top level): `defer(fn)` runs fn after the
 * current test, and `dir()` gives a private directory removed then.
 */
export function perTest(): { defer: (fn: () => void) => void; dir: () => string } {
  const pending: (() => void)[] = [];
  afterEach(() => {
    for (const c of pending.splice(0)) c();
  });
  const defer = (fn: () => void) => void pending.push(fn);
  return {
    defer,
    dir() {
      const t = tempDir();
      defer(t.cleanup);
      return t.dir;
    },
  };
}

/**
 * A unique abstract socket name ("@sockact-test-TAG-..."): the abstract namespace is shared by every run on the
 * machine.
 */
export function abstractName(tag = 'x'): string {
  return `@sockact-test-${tag}-${process.pid}-${randomBytes(6).toString('hex')}`;
}
