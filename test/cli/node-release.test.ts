// A Node release older than engines allows (^20.16 || ^22.3 || >=24): sockact loads Node's
// built-ins with process.getBuiltinModule(), which those releases lack. The command and the
// library then say so in one line, naming the release, instead of failing somewhere inside.
// An older Node is not installed here: a preload removes the function, which is exactly what
// such a release looks like to the code that checks.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ROOT, SOCKACT } from '../_support/launcher.js';

const WITHOUT = ['--import', 'data:text/javascript,delete process.getBuiltinModule'];

function run(args: string[]) {
  return spawnSync(process.execPath, [...WITHOUT, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
}

describe('a Node without process.getBuiltinModule()', () => {
  it('sockact says which releases it needs and which this is, in one line, and exits 1', () => {
    const r = run([SOCKACT, '-q', '-l', '127.0.0.1:0', '--', '/bin/true']);
    expect(r.stderr).toBe(`sockact: needs Node 20.16, 22.3 or later; this is ${process.version}\n`);
    expect(r.status).toBe(1);
  });

  it("import 'sockact' throws the same sentence", () => {
    const r = run(['--input-type=module', '-e', "import('sockact').catch((e) => console.log(e.message))"]);
    expect(r.stdout).toBe(
      `sockact needs Node 20.16, 22.3 or later (process.getBuiltinModule); this is ${process.version}\n`,
    );
  });

  it('the same runs as usual when the function is there (the preload is what makes the difference)', () => {
    const r = spawnSync(process.execPath, [SOCKACT, '-q', '-l', '127.0.0.1:0', '--', '/bin/true'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
