// contrib/systemd/sockact-takeover.service under systemd 252, as shipped (paths and port
// substituted): `systemctl reload` starts a new sockact through ExecReload= that takes the
// sockets over; systemd's MainPID becomes the new sockact, no request fails under load and the
// old sockact leaves. A takeover whose program fails (SOCKACT_ARGS edited, daemon-reload, reload,
// as the unit's comment tells an administrator) leaves the old sockact MainPID and serving.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { httpGet } from '../_support/http.js';
import { loadDuring } from '../_support/http-load.js';
import {
  contribUnit,
  describeSystemd,
  freePort,
  helloPid,
  it,
  mainPid,
  startedReady,
  unitsPerTest,
  waitJournal,
  waitShow,
  withPorts,
} from '../_support/systemd.js';

const UNIT = 'sockact-takeover.service';
const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

describeSystemd('takeover: contrib sockact-takeover.service, reloaded by a new sockact', (ctx) => {
  const units = unitsPerTest(ctx);

  it('reload under load: MainPID the new sockact, 0 failed; a failing one changes nothing', async () => {
    const { sd } = ctx;
    const port = await freePort();
    await units.install({ [UNIT]: withPorts(contribUnit(UNIT), { 8080: port }) });
    const first = await startedReady(sd, UNIT);
    await waitJournal(sd, UNIT, /ready, generation 1/);
    const load = await loadDuring(port, 8, async () => {
      await sd.systemctl('reload', UNIT);
      // ExecReload= returns at once (setsid -f): the outcome is MainPID= from the new sockact.
      await waitShow(
        sd,
        UNIT,
        ['MainPID'],
        (v) => v.MainPID !== String(first.ns) && v.MainPID !== '0',
        'a new MainPID',
      );
      await waitJournal(sd, UNIT, /takeover done/);
      await waitShow(sd, UNIT, ['ActiveState'], (v) => v.ActiveState === 'active', 'active');
    });
    expect(load.failed, await sd.journal(UNIT)).toEqual([]);
    const second = await mainPid(sd, UNIT);
    expect(second.host).toBeDefined();
    // The new main pid is the sockact ExecReload= started, not its setsid.
    const argv = readFileSync(`/proc/${second.host}/cmdline`, 'utf8').split('\0');
    expect(argv[1]).toMatch(/sockact\.js$/);
    expect(argv[2]).toBe('--takeover');
    expect(gone(first.host!)).toBe(true);
    const serving = helloPid((await httpGet({ host: '127.0.0.1', port })).body);

    // The administrator edits SOCKACT_ARGS to a program that fails, reloads: nothing changes.
    const path = join(sd.units, UNIT);
    writeFileSync(path, readFileSync(path, 'utf8').replace(/-- \S+ \S+server\.js"/, '-- /bin/false"'));
    await sd.daemonReload();
    const during = await loadDuring(port, 4, async () => {
      await sd.systemctl('reload', UNIT);
      await waitJournal(sd, UNIT, /takeover failed: .*; pid \d+ keeps serving/);
    });
    expect(during.failed).toEqual([]);
    expect([...during.bodies.keys()]).toEqual([`hello from pid ${serving}`]);
    expect(await sd.show(UNIT, ['ActiveState', 'MainPID'])).toEqual({
      ActiveState: 'active',
      MainPID: String(second.ns),
    });
    expect(helloPid((await httpGet({ host: '127.0.0.1', port })).body)).toBe(serving);
  }, 90_000);
});
