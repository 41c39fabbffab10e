import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOf, SockactError, usageError } from '../../src/protocol/errors.js';
import { ROOT } from '../_support/launcher.js';

/** The ERR_* members of the exported union type SockactErrorCode, read from the source. */
function unionCodes(): string[] {
  const text = readFileSync(join(ROOT, 'src/protocol/errors.ts'), 'utf8');
  const union = text.match(/export type SockactErrorCode =([^;]*);/)?.[1] ?? '';
  return [...union.matchAll(/'(ERR_[A-Z_]+)'/g)].map((m) => m[1]!);
}

/** The codes of the table in docs/errors.md, in order. */
function documentedCodes(): string[] {
  const text = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  return [...text.matchAll(/^\| `(ERR_[A-Z_]+)` \| .+ \|$/gm)].map((m) => m[1]!);
}

describe('the codes', () => {
  it('docs/errors.md has one row per code of SockactErrorCode, in the same order, none twice', () => {
    const codes = unionCodes();
    expect(codes.length).toBeGreaterThan(40);
    expect(new Set(codes).size).toBe(codes.length);
    expect(documentedCodes()).toEqual(codes);
  });

  it('the union is sorted, so that a new code has one place to go', () => {
    const codes = unionCodes();
    expect([...codes].sort()).toEqual(codes);
  });
});

describe('SockactError', () => {
  it('keeps the code, the fields and the cause', () => {
    const cause = new Error('underneath');
    const err = new SockactError('ERR_LISTEN_ENV', "LISTEN_FDS is not a number: 'x'", {
      variable: 'LISTEN_FDS',
      value: 'x',
      cause,
    });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'SockactError',
      code: 'ERR_LISTEN_ENV',
      variable: 'LISTEN_FDS',
      value: 'x',
      cause,
    });
    expect(Object.keys(err)).not.toContain('cause');
    expect(String(err)).toBe("SockactError: LISTEN_FDS is not a number: 'x'");
  });

  it('answers instanceof for an error from another copy of the class (another bundle or install)', async () => {
    // A second copy of the module, as a second bundle holds: another class object, the same mark.
    // @ts-expect-error: the query makes another module instance; TypeScript knows no such file.
    const other = (await import('../../src/protocol/errors.js?copy')) as typeof import('../../src/protocol/errors.js');
    expect(other.SockactError).not.toBe(SockactError);
    const fromOther = new other.SockactError('ERR_USAGE', 'from the other copy');
    expect(fromOther).toBeInstanceOf(SockactError);
    expect(new SockactError('ERR_USAGE', 'from this copy')).toBeInstanceOf(other.SockactError);
  });

  it('answers instanceof false for anything without the mark', () => {
    const lookalike = Object.assign(new Error('x'), { code: 'ERR_USAGE', name: 'SockactError' });
    for (const v of [lookalike, new Error('x'), {}, null, undefined, 'ERR_USAGE', 3])
      expect(v instanceof SockactError).toBe(false);
  });

  it('usageError() is ERR_USAGE with exit status 2', () => {
    expect(usageError('--foo needs a value', { value: 'x' })).toMatchObject({
      code: 'ERR_USAGE',
      exitCode: 2,
      value: 'x',
      message: '--foo needs a value',
    });
  });

  it('codeOf() keeps an OS error code, and falls back for anything without one', () => {
    expect(codeOf(Object.assign(new Error('x'), { code: 'EADDRINUSE' }), 'ERR_BIND')).toBe('EADDRINUSE');
    expect(codeOf(new Error('x'), 'ERR_BIND')).toBe('ERR_BIND');
    expect(codeOf(undefined, 'ERR_BIND')).toBe('ERR_BIND');
    expect(codeOf({ code: 5 }, 'ERR_BIND')).toBe('ERR_BIND');
  });
});
