// The seam loads koffi's native module straight from koffi's platform package (koffi's own
// loader costs ~8 ms of an activated app's start-up), and only one that matches koffi's version.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { libc } from '../../src/sys/libc.js';

describe('libc()', () => {
  it("binds libc through koffi's native module of the installed koffi version", () => {
    const lib = libc();
    const require = createRequire(import.meta.url);
    const koffiMain = require.resolve('koffi');
    const koffiPkg = JSON.parse(readFileSync(koffiMain.replace(/[^/]+$/, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect((lib.koffi as unknown as { version: string }).version).toBe(koffiPkg.version);
    // Same object koffi's own loader would hand out: the native module is loaded once per process.
    expect(require('koffi').version).toBe(koffiPkg.version);
    expect(lib.getuid()).toBe(process.getuid!());
    const maps = readFileSync('/proc/self/maps', 'utf8');
    expect(maps).toMatch(new RegExp(`@koromix/koffi-linux-${process.arch}/(linux|musl)_${process.arch}/koffi\\.node`));
  });

  it('returns one binding per process', () => {
    expect(libc()).toBe(libc());
  });
});
