import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SockactError } from '../../src/protocol/errors.js';
import { resolveProgram } from '../../src/launch/program.js';
import { tempDir } from '../_support/tmp.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A directory with an executable `run-me`, a non-executable `no-x` and a directory `a-dir`. */
function fixture(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  writeFileSync(join(t.dir, 'run-me'), '#!/bin/sh\n');
  chmodSync(join(t.dir, 'run-me'), 0o755);
  writeFileSync(join(t.dir, 'no-x'), '#!/bin/sh\n');
  chmodSync(join(t.dir, 'no-x'), 0o644);
  mkdirSync(join(t.dir, 'a-dir'));
  return t.dir;
}

function refusal(program: string, path?: string, uid?: number): SockactError {
  try {
    resolveProgram(program, path, uid);
  } catch (err) {
    expect(err).toBeInstanceOf(SockactError);
    return err as SockactError;
  }
  throw new Error(`${program} resolved`);
}

describe('resolveProgram', () => {
  it('finds a name on PATH, skipping directories that do not have it', () => {
    const d = fixture();
    expect(resolveProgram('run-me', `/nonexistent:${d}`)).toBe(join(d, 'run-me'));
  });

  it('takes a name with a slash as a path, relative to the working directory', () => {
    const d = fixture();
    expect(resolveProgram(join(d, 'run-me'), '')).toBe(join(d, 'run-me'));
    expect(resolveProgram(relative(process.cwd(), join(d, 'run-me')), '')).toBe(join(d, 'run-me'));
  });

  it('says "command not found" with exit 127, as a shell does', () => {
    const err = refusal('no-such-program-here', fixture());
    expect(err.message).toBe('no-such-program-here: command not found');
    expect(err.exitCode).toBe(127);
    expect(err.program).toBe('no-such-program-here');
    expect(refusal('/no/such/file').message).toBe('/no/such/file: no such file or directory');
    expect(refusal('/no/such/file').exitCode).toBe(127);
  });

  it('says "permission denied" with exit 126 for a file that is not executable or a directory', () => {
    const d = fixture();
    const noX = refusal('no-x', d, 65534);
    expect(noX.message).toBe(`no-x: permission denied (${join(d, 'no-x')} is not executable)`);
    expect(noX.exitCode).toBe(126);
    expect(refusal(join(d, 'a-dir')).message).toBe(
      `${join(d, 'a-dir')}: permission denied (${join(d, 'a-dir')} is a directory)`,
    );
    expect(refusal(join(d, 'a-dir')).exitCode).toBe(126);
  });

  it('prefers a later executable over an earlier non-executable match, as execvp does', () => {
    const first = fixture();
    const second = fixture();
    writeFileSync(join(first, 'run-me'), '');
    chmodSync(join(first, 'run-me'), 0o644);
    expect(resolveProgram('run-me', `${first}:${second}`, 65534)).toBe(join(second, 'run-me'));
  });
});
