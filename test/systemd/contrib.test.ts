// contrib/systemd under a running systemd: every unit set as shipped, only its install paths
// pointed at this checkout and its ports at free loopback ports (the network namespace is the
// machine's), installed into the private systemd's /etc/systemd/system, loads, passes
// `systemd-analyze verify` there, starts, serves, reloads and stops; and so do both shapes of
// `sockact unit` output, written with --out as a user would. Every claim about a unit is what
// systemd reports (systemctl show, journalctl -u).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { httpGet } from '../_support/http.js';
import { sockactOutcome, tempDir } from '../_support/launcher.js';
import {
  contribUnit,
  describeSystemd,
  withPorts,
  freePort,
  startedReady,
  type Systemd,
  unitsPerTest,
  waitJournal,
  waitShow,
} from '../_support/systemd.js';
import { root } from '../_support/units.js';

/** The pid "hello from pid N" names: a pid of the private systemd's namespace, as MainPID= is. */
const pidOf = (body: string) => Number(/hello from pid (\d+)/.exec(body)?.[1]);
const hello = async (port: number) => pidOf((await httpGet({ host: '127.0.0.1', port })).body);

/** `systemd-analyze verify` inside the namespace, on the installed files: its whole output. */
async function verify(sd: Systemd, names: string[]): Promise<string> {
  const r = await sd.exec(['systemd-analyze', 'verify', ...names.map((n) => `/etc/systemd/system/${n}`)]);
  return `${r.stdout}${r.stderr}${r.code === 0 ? '' : `exit ${r.code}`}`;
}

/** Every unit in `files` loaded by systemd with no error, and verify silent about them. */
async function loadedClean(sd: Systemd, files: Record<string, string>) {
  const names = Object.keys(files).filter((f) => /\.(service|socket)$/.test(f) && !f.includes('@.'));
  for (const n of names)
    expect(await sd.show(n, ['LoadState', 'LoadError']), n).toEqual({ LoadState: 'loaded', LoadError: '' });
  expect(
    await verify(
      sd,
      Object.keys(files).filter((f) => /\.(service|socket)$/.test(f)),
    ),
  ).toBe('');
}

/** The contrib files named, with any drop-in directory of theirs. */
function contribSet(names: string[], ports: Record<string, number>): Record<string, string> {
  const files: Record<string, string> = {};
  for (const n of names) {
    files[n] = withPorts(contribUnit(n), ports);
    const dropIns = join(root, 'contrib/systemd', `${n}.d`);
    for (const f of readdirIfAny(dropIns)) files[`${n}.d/${f}`] = contribUnit(`${n}.d/${f}`);
  }
  return files;
}
const readdirIfAny = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

/**
 * A sockact service's life: active with sockact as MainPID, serving; `systemctl reload` brings a
 * new app while MainPID stays; `systemctl stop` ends it with Result=success and an empty cgroup.
 */
async function sockactLife(sd: Systemd, unit: string, port: number, admin?: string) {
  const main = await startedReady(sd, unit);
  await waitJournal(sd, unit, /ready, generation 1/);
  const before = await hello(port);
  expect(before).toBeGreaterThan(0);
  // A UNIX socket in the namespace's private /run, reached from here through PID 1's root.
  if (admin) expect(pidOf((await httpGet({ socketPath: `/proc/${sd.pid}/root${admin}` })).body)).toBe(before);
  await sd.systemctl('reload', unit);
  await waitJournal(sd, unit, /reloaded: generation 2 ready/);
  await waitShow(sd, unit, ['ActiveState'], (v) => v.ActiveState === 'active', 'active after the reload');
  const after = await hello(port);
  expect(after).toBeGreaterThan(0);
  expect(after).not.toBe(before);
  expect((await sd.show(unit, ['MainPID'])).MainPID).toBe(String(main.ns));
  await sd.systemctl('stop', unit);
  expect(await sd.show(unit, ['ActiveState', 'Result'])).toEqual({ ActiveState: 'inactive', Result: 'success' });
  expect(await sd.pidsOf(unit)).toEqual([]);
}

describeSystemd('contrib/systemd under a running systemd', (ctx) => {
  const units = unitsPerTest(ctx);

  it('(a) hello.socket + hello.service + drop-in: activated by a request, restarted, nothing refused', async () => {
    const { sd } = ctx;
    const port = await freePort();
    const files = contribSet(['hello.socket', 'hello.service'], { 8080: port });
    await units.install(files);
    await loadedClean(sd, files);
    await sd.systemctl('start', 'hello.socket');
    expect((await sd.show('hello.service', ['ActiveState'])).ActiveState).toBe('inactive');
    const first = await hello(port);
    await waitShow(
      sd,
      'hello.service',
      ['ActiveState', 'SubState'],
      (v) => v.SubState === 'running',
      'running after READY=1',
    );
    const { MainPID, User } = await sd.show('hello.service', ['MainPID', 'User']);
    // The app says its pid as it sees it: the namespace's, as MainPID= is.
    expect(Number(MainPID)).toBe(first);
    // DynamicUser=yes from the drop-in: the app runs as a user named after the unit, with a uid
    // systemd allocated, not root.
    expect(User).toBe('hello');
    expect((await sd.exec(['stat', '-c', '%u', `/proc/${MainPID}`])).stdout.trim()).not.toBe('0');
    // hello.service has no ExecReload=: its "reload" is a restart, during which the socket stays bound.
    const restarting = sd.systemctl('restart', 'hello.service');
    const during = await Promise.all([1, 2, 3, 4, 5].map(() => hello(port)));
    await restarting;
    expect(during.every((p) => p > 0)).toBe(true);
    expect(await hello(port)).not.toBe(first);
    await sd.systemctl('stop', 'hello.service', 'hello.socket');
    expect((await sd.show('hello.service', ['Result'])).Result).toBe('success');
    expect(await sd.pidsOf('hello.service')).toEqual([]);
  });

  it('(b) sockact-hello.service: MainPID is sockact throughout; TCP and admin.sock; reload; stop', async () => {
    const { sd } = ctx;
    const port = await freePort();
    const files = contribSet(['sockact-hello.service'], { 8080: port });
    await units.install(files);
    await loadedClean(sd, files);
    await sockactLife(sd, 'sockact-hello.service', port, '/run/hello/admin.sock');
  });

  it('(c) sockact-inherit: .socket units hold the sockets, passed on by name; reload; stop', async () => {
    const { sd } = ctx;
    const port = await freePort();
    const files = contribSet(
      ['sockact-inherit-web.socket', 'sockact-inherit-admin.socket', 'sockact-inherit.service'],
      { 8082: port },
    );
    await units.install(files);
    await loadedClean(sd, files);
    await sd.systemctl('start', 'sockact-inherit-web.socket', 'sockact-inherit-admin.socket');
    await sockactLife(sd, 'sockact-inherit.service', port, '/run/sockact-inherit/admin.sock');
    const journal = await sd.journal('sockact-inherit.service');
    expect(journal).toMatch(/passing on inherited \S+ as fd \d \(web\)/);
    expect(journal).toMatch(/passing on inherited \S+ as fd \d \(admin\)/);
  });

  it('(d) hello-accept.socket + hello-accept@.service: one service instance per connection', async () => {
    const { sd } = ctx;
    const port = await freePort();
    const files = contribSet(['hello-accept.socket', 'hello-accept@.service'], { 8081: port });
    files['hello-accept.socket'] = files['hello-accept.socket']!.replace(
      'ListenStream=127.0.0.1:8081',
      `ListenStream=127.0.0.1:${port}`,
    );
    await units.install(files);
    await loadedClean(sd, files);
    await sd.systemctl('start', 'hello-accept.socket');
    const [a, b] = await Promise.all([hello(port), hello(port)]);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(a).not.toBe(b);
    const { NAccepted } = await sd.show('hello-accept.socket', ['NAccepted']);
    expect(Number(NAccepted)).toBe(2);
  });

  it('(e) sockact-fdstore.service and (f) sockact-takeover.service start, serve, reload and stop', async () => {
    const { sd } = ctx;
    const [p1, p2] = [await freePort(), await freePort()];
    const fdstore = contribSet(['sockact-fdstore.service'], { 8080: p1 });
    const takeover = contribSet(['sockact-takeover.service'], { 8080: p2 });
    await units.install({ ...fdstore, ...takeover });
    await loadedClean(sd, { ...fdstore, ...takeover });
    await sockactLife(sd, 'sockact-fdstore.service', p1);
    // The takeover unit's reload is a new sockact: MainPID changes (takeover.test.ts has the rest).
    const first = await startedReady(sd, 'sockact-takeover.service');
    const before = await hello(p2);
    await sd.systemctl('reload', 'sockact-takeover.service');
    await waitShow(
      sd,
      'sockact-takeover.service',
      ['MainPID'],
      (v) => v.MainPID !== String(first.ns) && v.MainPID !== '0',
      'a new MainPID',
    );
    await waitJournal(sd, 'sockact-takeover.service', /takeover done/);
    expect(await hello(p2)).not.toBe(before);
    await sd.systemctl('stop', 'sockact-takeover.service');
    expect(await sd.show('sockact-takeover.service', ['ActiveState', 'Result'])).toEqual({
      ActiveState: 'inactive',
      Result: 'success',
    });
    expect(await sd.pidsOf('sockact-takeover.service')).toEqual([]);
  });

  for (const shape of ['direct', 'sockact'] as const) {
    it(`sockact unit --shape ${shape} --out: loads, verifies clean, starts, serves, stops`, async () => {
      const { sd } = ctx;
      const port = await freePort();
      const name = `gen-${shape}`;
      const { dir: out, cleanup } = tempDir();
      try {
        const r = await sockactOutcome([
          'unit',
          '--shape',
          shape,
          '--name',
          name,
          '--out',
          out,
          '-l',
          `127.0.0.1:${port},name=web`,
          '--restart',
          'on-failure',
          '--',
          process.execPath,
          join(root, 'examples/hello/server.js'),
        ]);
        expect(r.code, r.stderr).toBe(0);
        const files = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]));
        expect(Object.keys(files).sort()).toEqual(
          shape === 'direct' ? [`${name}.service`, `${name}.socket`] : [`${name}.service`],
        );
        await units.install(files);
        await loadedClean(sd, files);
        // What the README tells a user: enable --now the socket (direct) or the service (sockact).
        const first = shape === 'direct' ? `${name}.socket` : `${name}.service`;
        await sd.systemctl('enable', '--now', first);
        expect(await hello(port)).toBeGreaterThan(0);
        await waitShow(sd, `${name}.service`, ['ActiveState'], (v) => v.ActiveState === 'active', 'active');
        if (shape === 'sockact') {
          await sd.systemctl('reload', `${name}.service`);
          await waitJournal(sd, `${name}.service`, /reloaded: generation 2 ready/);
        }
        await sd.systemctl('disable', '--now', first);
        await sd.systemctl('stop', `${name}.service`);
        expect((await sd.show(`${name}.service`, ['Result'])).Result).toBe('success');
        expect(await sd.pidsOf(`${name}.service`)).toEqual([]);
      } finally {
        cleanup();
      }
    });
  }
});
