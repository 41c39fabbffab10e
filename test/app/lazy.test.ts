// `import 'sockact'` parses only what every app runs: fd passing, the hand-over of connection
// migration and the self-upgrade's run are in dist/src/index.lazy.js (scripts/build.js), read
// on first use. Checked by the files a real child loads (a module hook logs each one) as it
// imports 'sockact' the way users do.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../_support/launcher.js';
import { ROOT } from './_helpers.js';

const HOOK = join(ROOT, 'test/_support/log-loads.mjs');
const DIST = join(ROOT, 'dist/src');

/** The dist/src files a child running `script` loads, by name; it must exit 0. */
function loads(script: string, env: NodeJS.ProcessEnv = {}): string[] {
  const r = spawnSync(process.execPath, ['--import', HOOK, '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  return [...r.stderr.matchAll(/^loaded file:\/\/(\S+)$/gm)]
    .map((m) => m[1]!)
    .filter((f) => f.startsWith(`${DIST}/`))
    .map((f) => f.slice(DIST.length + 1));
}

const SERVE_AND_DRAIN = `
import http from 'node:http';
import { listenFds, listen, shutdown, upgrader } from 'sockact';
listenFds();
const server = http.createServer((req, res) => res.end('hi'));
await listen(server, { port: 0, host: '127.0.0.1' });
// Refused before anything is loaded: this process never called notify.ready().
const refused = await upgrader().upgrade().catch((err) => err.code);
if (refused !== 'ERR_UPGRADE_NOT_READY') throw new Error('upgrade(): ' + refused);
await shutdown(server, { timeout: 1000, notify: false });
`;

describe("importing 'sockact' loads what the app uses", () => {
  it('listen(), upgrader() and shutdown() outside a supervisor load the bundle and its shared chunk only', () => {
    expect(loads(SERVE_AND_DRAIN)).toEqual(['index.bundle.js', 'index.shared.js']);
  });

  it('under a supervisor that migrates, shutdown() loads the hand-over (the check above can fail)', () => {
    const d = tempDir();
    try {
      const env = { SOCKACT_MIGRATE_DIR: d.dir, SOCKACT_GENERATION: '1' };
      expect(loads(SERVE_AND_DRAIN, env)).toEqual(['index.bundle.js', 'index.shared.js', 'index.lazy.js']);
    } finally {
      d.cleanup();
    }
  });

  it('receiveFds() loads fd passing on its first call', () => {
    const script = `import { openSync } from 'node:fs';
import { receiveFds } from 'sockact';
const code = await receiveFds(openSync('/dev/null')).catch((err) => err.code);
if (code !== 'ERR_FDS_SOCKET') throw new Error('receiveFds(/dev/null): ' + code);`;
    expect(loads(script, {})).toContain('index.lazy.js');
  });

  it('an upgrade loads its run when it starts the new copy', () => {
    const script = `import { notify, upgrader } from 'sockact';
await notify.ready();
const err = await upgrader({ command: ['/bin/false'], exit: false }).upgrade().catch((e) => e);
if (!/exited with code 1 before it was ready/.test(err.message)) throw err;`;
    expect(loads(script)).toContain('index.lazy.js');
  });

  it('the lazy chunk holds fd passing, the hand-over and the upgrade run, and the others none of them', () => {
    const modulesOf = (file: string) =>
      [...readFileSync(join(DIST, file), 'utf8').matchAll(/^\/\/ dist\/src\/(\S+)\.js$/gm)].map((m) => m[1]!);
    const lazy = ['app/fdpass', 'app/migrate', 'protocol/migrate', 'app/upgrade-run'];
    expect(modulesOf('index.lazy.js')).toEqual(expect.arrayContaining(lazy));
    const loaded = [...modulesOf('index.bundle.js'), ...modulesOf('index.shared.js')];
    expect(loaded).toContain('app/listen-fds');
    expect(loaded.filter((m) => lazy.includes(m))).toEqual([]);
  });
});
