// The published declarations, as a TypeScript user gets them: the packed tarball unpacked into a
// consumer's node_modules, type-checked by TypeScript 5, 6 and 7 (each from npm, with @types/node)
// under the tsconfig that compiler's `tsc --init` writes and under a bare `module: nodenext` one
// that checks sockact's .d.ts too (no skipLibCheck). TypeScript 6 stopped loading @types/* unless
// "types" names them, so without the entry points' `/// <reference types="node" />` a consumer
// gets errors inside sockact's .d.ts (or, under skipLibCheck, Buffer and friends silently `any`:
// the consumer's @ts-expect-error lines catch that).
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { perTest } from '../_support/launcher.js';
import { packOnce, unpackInto } from '../_support/pack.js';

const { dir } = perTest();

const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sockact');

/**
 * typescript@`major` and @types/node, installed once into the user's cache (kept across runs
 * and `npm ci`). Installed beside it and renamed into place, so a run that stops half way, or
 * another run at the same time, never leaves a half-installed compiler behind.
 */
async function compiler(major: number): Promise<string> {
  const home = join(CACHE, `typescript-${major}`);
  const tsc = join(home, 'node_modules/typescript/bin/tsc');
  if (existsSync(tsc)) return home;
  const tmp = `${home}.${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const quiet = ['--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error'];
  const what = [`typescript@${major}`, '@types/node'];
  await promisify(execFile)('npm', ['install', '--prefix', tmp, ...quiet, ...what]);
  try {
    renameSync(tmp, home);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another run got there first
  }
  return home;
}

// The consumer uses each entry point, and each @ts-expect-error holds only while the Node type
// behind it (Buffer, NodeJS.Signals) is really there: were it `any`, the line would not be an error.
const CONSUMER = `import { type FdBundle, listen, SockactError } from 'sockact';
import { formatNotify, parseListenEnv } from 'sockact/protocol';
import { describeExit } from 'sockact/launch';

export function handle(bundle: FdBundle): string {
  // @ts-expect-error: a Buffer is not a number
  const n: number = bundle.message;
  return \`\${n} \${bundle.names.join(',')}\`;
}
// @ts-expect-error: a Buffer is not a number
export const sent: number = formatNotify('READY=1');
// @ts-expect-error: not a signal name
export const exit = describeExit(1, null, 'SIGNOPE');
export const env = parseListenEnv({}, 1);
export const failed = (err: unknown): boolean => err instanceof SockactError;
export { listen };
`;

const BARE = JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, noEmit: true } });

let tarball = '';

beforeAll(() => {
  tarball = packOnce().tarball;
});

/** A consumer package ("type": "module", as npm's ESM-only sockact needs) with sockact unpacked and @types/node. */
function consumer(home: string): string {
  const d = dir();
  unpackInto(tarball, d);
  symlinkSync(join(home, 'node_modules/@types'), join(d, 'node_modules/@types'));
  writeFileSync(join(d, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
  writeFileSync(join(d, 'index.ts'), CONSUMER);
  return d;
}

/** Runs tsc without blocking this worker (a minute of tsc on a busy machine would stall vitest's RPC). */
function tsc(home: string, cwd: string, args: string[]): Promise<{ status: number | null; out: string }> {
  const bin = join(home, 'node_modules/typescript/bin/tsc');
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 240_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe("a consumer's tsc against the packed tarball", () => {
  for (const major of [5, 6, 7]) {
    it(`TypeScript ${major}: --init's tsconfig and a bare nodenext one: no error`, { timeout: 600_000 }, async () => {
      const home = await compiler(major);
      expect((await tsc(home, home, ['--version'])).out).toMatch(new RegExp(`^Version ${major}\\.`));

      const init = consumer(home);
      expect((await tsc(home, init, ['--init'])).status).toBe(0);
      expect(await tsc(home, init, ['--noEmit', '-p', '.'])).toEqual({ status: 0, out: '' });

      const bare = consumer(home);
      writeFileSync(join(bare, 'tsconfig.json'), BARE);
      expect(await tsc(home, bare, ['-p', '.'])).toEqual({ status: 0, out: '' });
    });
  }
});
