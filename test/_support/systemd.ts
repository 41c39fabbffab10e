// The tests' side of a private systemd (test/_support/systemd-ns.js boots it): one instance per
// test file, booted before its first test and torn down after its last, whatever happened; units
// written per test and removed after it; every assertion about a service reads what systemd
// itself reports (`systemctl show`, `journalctl -u`).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { boot, CHECKOUT_INSIDE, cannotBoot, NODE_INSIDE, type Systemd } from './systemd-ns.js';
import { root, unitsDir } from './units.js';
import { waitUntil } from './wait.js';

export type { Systemd } from './systemd-ns.js';

/** Why this machine cannot boot a private systemd ("not root", "no unshare"...), or undefined. */
export const CANNOT_BOOT = cannotBoot();
/** In CI as root a skip would hide a broken harness: there it must boot. */
export const MUST_BOOT = process.env.CI === 'true' && process.getuid?.() === 0;

/** The machine's systemd version (`systemctl --version`), or 0 without one. */
export const SYSTEMD_VERSION = (() => {
  const r = spawnSync('systemctl', ['--version'], { encoding: 'utf8' });
  return Number(/^systemd (\d+)/.exec(r.stdout ?? '')?.[1] ?? 0);
})();

/**
 * describe() whose tests run against one private systemd, booted for this file (`ctx.sd`). Where
 * none can be booted the whole block is skipped, its title naming what is missing; in CI as root
 * it fails instead.
 */
export function describeSystemd(title: string, body: (ctx: { sd: Systemd }) => void): void {
  if (CANNOT_BOOT && !MUST_BOOT) {
    describe.skip(`${title} (skipped: cannot boot a private systemd: ${CANNOT_BOOT})`, () =>
      body({} as { sd: Systemd }));
    return;
  }
  describe(title, () => {
    const ctx = {} as { sd: Systemd };
    beforeAll(async () => {
      ctx.sd = await boot({ tag: title.split(' ')[0] });
    }, 60_000);
    afterAll(async () => {
      await ctx.sd?.stop();
      const left = ctx.sd?.leftovers() ?? [];
      if (left.length) throw new Error(`the private systemd left: ${left.join('; ')}`);
    }, 30_000);
    body(ctx);
  });
}

/**
 * Units for one test: `install(files)` writes them and reloads systemd; after the test every
 * unit it installed is stopped, removed and forgotten (reset-failed), so the next test starts clean.
 */
export function unitsPerTest(ctx: { sd: Systemd }) {
  const installed: string[] = [];
  afterEach(async () => {
    const files = installed.splice(0);
    if (!files.length || !ctx.sd) return;
    const names = files.filter((f) => /\.(service|socket)$/.test(f)).map((f) => f.replace(/^.*\//, ''));
    await ctx.sd.exec(['systemctl', 'stop', ...names]);
    for (const f of files) ctx.sd.removeUnit(f.includes('/') ? f.split('/')[0]! : f);
    await ctx.sd.exec(['systemctl', 'reset-failed']);
    await ctx.sd.daemonReload();
  }, 60_000);
  return {
    async install(files: Record<string, string>): Promise<void> {
      for (const [f, text] of Object.entries(files)) {
        ctx.sd.writeUnit(f, text);
        installed.push(f);
      }
      await ctx.sd.daemonReload();
    },
  };
}

/**
 * A contrib unit's text with its install paths pointed at this checkout and this Node as the
 * instance sees them (a sandboxed unit cannot see /tmp or /root), nothing else.
 */
export function contribUnit(file: string): string {
  return readFileSync(join(unitsDir, file), 'utf8')
    .replaceAll('/srv/hello', join(CHECKOUT_INSIDE, 'examples', 'hello'))
    .replaceAll('/usr/local/bin/sockact', join(CHECKOUT_INSIDE, 'bin', 'sockact.js'))
    .replaceAll('/usr/bin/node', join(NODE_INSIDE, basename(process.execPath)));
}

/**
 * A contrib unit's text with its ports (8080..) moved to free loopback ports, the only change
 * besides paths: the network namespace is the machine's. `ListenStream=PORT` and `-l PORT,`.
 */
export function withPorts(text: string, ports: Record<string, number>): string {
  let out = text;
  for (const [from, to] of Object.entries(ports)) {
    out = out
      .replaceAll(`ListenStream=${from}\n`, `ListenStream=127.0.0.1:${to}\n`)
      .replaceAll(` -l ${from},`, ` -l 127.0.0.1:${to},`);
  }
  return out;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a unit, which cannot say port 0 and tell us). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Poll a unit's properties until `check` holds; the error shows the last values seen. */
export async function waitShow(
  sd: Systemd,
  unit: string,
  props: string[],
  check: (v: Record<string, string>) => boolean,
  what: string,
  timeout = 20_000,
) {
  let last: Record<string, string> = {};
  await waitUntil(
    `${unit}: ${what}`,
    async () => {
      last = await sd.show(unit, props);
      return check(last);
    },
    { timeout, every: 50, seen: () => JSON.stringify(last) },
  );
  return last;
}

/** Poll a unit's journal until `re` matches `count` times; the match. The error shows the journal. */
export async function waitJournal(
  sd: Systemd,
  unit: string,
  re: RegExp,
  { count = 1, timeout = 20_000 } = {},
): Promise<RegExpMatchArray> {
  let text = '';
  const all = new RegExp(re.source, `${re.flags.replace('g', '')}g`);
  await waitUntil(
    `${unit}'s journal: ${count} x ${re}`,
    async () => {
      text = await sd.journal(unit);
      return (text.match(all) ?? []).length >= count;
    },
    { timeout, every: 100, seen: () => text.slice(-3000) },
  );
  return [...text.matchAll(all)][count - 1]!;
}

/** MainPID as systemd reports it, in the machine's numbering (the namespace's is in `ns`). */
export async function mainPid(sd: Systemd, unit: string): Promise<{ ns: number; host: number | undefined }> {
  const ns = Number((await sd.show(unit, ['MainPID'])).MainPID);
  return { ns, host: ns ? sd.hostPid(ns) : undefined };
}

/** Wait until `unit` is active with a main pid and sockact's "ready" in its journal; the main pid. */
export async function startedReady(sd: Systemd, unit: string) {
  await sd.systemctl('start', unit);
  await waitShow(
    sd,
    unit,
    ['ActiveState', 'MainPID'],
    (v) => v.ActiveState === 'active' && v.MainPID !== '0',
    'active with a main pid',
  );
  return mainPid(sd, unit);
}

export { it };

/** examples/hello, the app every unit here runs ("hello from pid N", READY=1, drains on SIGTERM). */
export const HELLO = join(root, 'examples/hello/server.js');
/** `node bin/sockact.js`, as ExecStart= words. */
export const SOCKACT_CMD = `${process.execPath} ${join(root, 'bin/sockact.js')}`;

/**
 * A Type=notify service whose main process is sockact with `args` (the launcher's options and
 * `-- PROGRAM...`), reloaded by SIGHUP as contrib/systemd/sockact-hello.service is; `service`
 * lines are added to [Service] (they win over the defaults, being later).
 */
export function sockactService(args: string, service: string[] = []): string {
  return [
    '[Service]',
    'Type=notify',
    'NotifyAccess=main',
    `ExecStart=${SOCKACT_CMD} ${args}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillMode=mixed',
    'TimeoutStopSec=20s',
    ...service,
    '',
  ].join('\n');
}

/** The pid a hello app answers with (its pid in the namespace, which is how systemd names it too). */
export function helloPid(body: string): number {
  return Number(/hello from pid (\d+)/.exec(body)?.[1]);
}

/** test/systemd/fixtures/app.mjs (scripted through the environment; see the file). */
export const APP = join(root, 'test/systemd/fixtures/app.mjs');

/**
 * The inode of the socket listening on 127.0.0.1:`port` (from /proc/net/tcp: the network
 * namespace is the machine's), or undefined when nothing listens there.
 */
export function listeningInode(port: number): number | undefined {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address 0100007F:PORT, state 0A = LISTEN, inode in column 10 (proc(5)).
    if (f[1] === `0100007F:${hex}` && f[3] === '0A') return Number(f[9]);
  }
  return undefined;
}
