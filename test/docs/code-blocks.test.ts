// Every code block in the README and the docs either runs here or says why it cannot. The marker is
// an HTML comment on the line before the block (GitHub and npm do not show it):
//
//   <!-- doc-test: file NAME -->      the block is the file NAME (server.js), which a later block runs
//   <!-- doc-test: run -->            sh -e runs the block; it must exit 0
//   <!-- doc-test: serve -->          each command line is started; it must say it is ready and answer
//                                     HTTP on the port it names. Every line but the last must then end
//                                     on its own with 0 (a later line took over, as --takeover does);
//                                     the last, stopped with SIGTERM before the next block, exits 0
//   <!-- doc-test: run while serving --> a run block while the serve block before it still serves
//                                     (which must still answer afterwards)
//   <!-- doc-test: skip: REASON -->   not run here: REASON says why and what tests it instead
//
// A block without a marker fails the first test, so a new block cannot slip by. The blocks run
// as written, in a private directory, with two substitutions that keep their meaning but let runs
// happen side by side: port 8080 is a port that was free a moment ago (tried again when taken),
// and `--name NAME` is `--control DIR/NAME.sock` (as root, --name would share /run/sockact with
// every other run). The README's files (server.js) are in every document's directory. `sockact` on
// PATH is bin/sockact.js of this checkout (built by the global setup), and `import 'sockact'` finds
// this package. Traffic goes to 127.0.0.1 only.
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { httpGet } from '../_support/http.js';
import { perTest, ROOT, type Run, run, SOCKACT } from '../_support/launcher.js';
import { type Fence, fences } from '../_support/markdown.js';
import { onFreePort, PORT_TAKEN } from '../_support/ports.js';

const DOCS = [
  'README.md',
  'BENCHMARKS.md',
  'contrib/systemd/README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

type Kind =
  | { kind: 'file'; name: string }
  | { kind: 'run' | 'serve' | 'run while serving' }
  | { kind: 'skip'; reason: string };

/** What the marker asks for, or why it is not a marker. */
function kindOf(f: Fence): Kind | string {
  const m = f.marker;
  if (m === undefined) return 'no <!-- doc-test: ... --> marker before it';
  const file = /^file (\S+)$/.exec(m);
  if (file) return { kind: 'file', name: file[1]! };
  const skip = /^skip: (.*)$/.exec(m);
  if (skip)
    return skip[1]!.length >= 20 ? { kind: 'skip', reason: skip[1]! } : `the reason "${skip[1]}" says too little`;
  if (m === 'run' || m === 'serve' || m === 'run while serving') return { kind: m };
  return `unknown marker "${m}"`;
}

const blocks = DOCS.map((doc) => ({ doc, fences: fences(readFileSync(join(ROOT, doc), 'utf8')) }));

/** The command lines of a shell block: comments and blank lines dropped. */
const commands = (body: string) =>
  body
    .split('\n')
    .map((l) => l.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);

const { defer, dir } = perTest();

function substitute(text: string, port: number, cwd: string): string {
  return text
    .replace(/\b8080\b/g, String(port))
    .split('\n')
    .map((l) =>
      /\bsockact unit\b/.test(l) ? l : l.replace(/--name (\S+)/g, (_, n) => `--control ${join(cwd, `${n}.sock`)}`),
    )
    .join('\n');
}

/** A private directory where `sockact` is this checkout's and `import 'sockact'` finds this package. */
function workspace(): { cwd: string; env: NodeJS.ProcessEnv } {
  const cwd = dir();
  mkdirSync(join(cwd, 'bin'));
  writeFileSync(
    join(cwd, 'bin', 'sockact'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(SOCKACT)} "$@"\n`,
    { mode: 0o755 },
  );
  mkdirSync(join(cwd, 'node_modules'));
  symlinkSync(ROOT, join(cwd, 'node_modules', 'sockact'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${join(cwd, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`,
  };
  for (const k of Object.keys(env)) if (/^(LISTEN_|NOTIFY_SOCKET|WATCHDOG_)/.test(k)) delete env[k];
  return { cwd, env };
}

/** Run one document's blocks in order on `port`; PORT_TAKEN when something else had the port. */
async function runDoc(doc: string, port: number): Promise<string[] | typeof PORT_TAKEN> {
  const { cwd, env } = workspace();
  const done: string[] = [];
  const serving: Run[] = [];
  const stop = async () => {
    for (const r of serving.splice(0)) {
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
      const { code, signal } = await r.ended('SIGTERM');
      expect({ code, signal }, `${r.child.spawnargs.join(' ')}\n${r.stderr}`).toEqual({ code: 0, signal: null });
    }
  };
  defer(() => {
    for (const r of serving) r.child.kill('SIGKILL');
  });
  const { fences: fs } = blocks.find((b) => b.doc === doc)!;
  // The README's files (its server.js) are there for every document, which may override them.
  for (const f of [...blocks[0]!.fences, ...fs]) {
    const k = kindOf(f);
    if (typeof k === 'object' && k.kind === 'file') writeFileSync(join(cwd, k.name), substitute(f.body, port, cwd));
  }
  for (const f of fs) {
    const k = kindOf(f) as Kind;
    const where = `${doc}:${f.line}`;
    if (k.kind === 'file' || k.kind === 'skip') continue;
    if (k.kind !== 'run while serving') await stop();
    else expect(serving.length, `${where}: no serve block before it still serves`).toBeGreaterThan(0);
    const script = substitute(f.body, port, cwd);
    if (k.kind === 'serve') {
      for (const line of commands(script)) {
        const r = run('/bin/sh', ['-c', `exec ${line}`], { cwd, env });
        serving.push(r);
        try {
          // This process serves (not an earlier one on the same port): its own line says so.
          await r.waitFor('stderr', /^sockact: (ready|\d+ of \d+ workers ready), generation/m);
        } catch (err) {
          if (/address already in use/.test(r.stderr)) return PORT_TAKEN;
          throw err;
        }
        expect((await httpGet({ host: '127.0.0.1', port })).status, `${where}: ${line}`).toBe(200);
      }
      // Several lines are a deploy: each took over from the one before, which ends on its own.
      for (const r of serving.slice(0, -1)) {
        const { code, signal } = await r.ended(`${where}: the next line took over`);
        expect({ code, signal }, `${where}: ${r.child.spawnargs.join(' ')}\n${r.stderr}`).toEqual({
          code: 0,
          signal: null,
        });
      }
    } else {
      const r = run('/bin/sh', ['-ec', script], { cwd, env });
      const { code } = await r.ended(`${where} ran`, 20_000);
      expect(code, `${where}: ${script}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
      if (k.kind === 'run while serving')
        expect((await httpGet({ host: '127.0.0.1', port })).status, `${where}: still serving afterwards`).toBe(200);
    }
    done.push(`${where} ${k.kind}`);
  }
  await stop();
  return done;
}

describe('code blocks in the README and the docs', () => {
  it('every block is marked: run here, a file a later block runs, or skipped with a reason', () => {
    const bad: string[] = [];
    for (const { doc, fences: fs } of blocks) {
      const shell = fs
        .filter((f) => ['run', 'serve', 'run while serving'].includes((kindOf(f) as { kind?: string }).kind ?? ''))
        .map((f) => f.body)
        .join('\n');
      for (const f of fs) {
        const k = kindOf(f);
        if (typeof k === 'string') bad.push(`${doc}:${f.line}: ${k}`);
        else if (k.kind !== 'skip' && k.kind !== 'file' && !/^(sh|shell|bash|console)?$/.test(f.info))
          bad.push(`${doc}:${f.line}: a ${k.kind} block must be sh, not ${f.info}`);
        else if (k.kind === 'file' && !shell.includes(k.name))
          bad.push(`${doc}:${f.line}: file ${k.name} is run by no block of ${doc}`);
      }
    }
    expect(bad).toEqual([]);
    expect(blocks.reduce((n, b) => n + b.fences.length, 0)).toBeGreaterThan(5);
  });

  for (const { doc, fences: fs } of blocks) {
    if (!fs.some((f) => ['run', 'serve', 'run while serving'].includes((kindOf(f) as { kind?: string }).kind ?? '')))
      continue;
    it(`${doc}: the blocks run as written`, { timeout: 120_000 }, async () => {
      const done = await onFreePort((port) => runDoc(doc, port), 3);
      expect(done.length).toBeGreaterThan(0);
    });
  }
});
