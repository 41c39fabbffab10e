// WatchdogSec= on sockact under systemd 252: sockact keeps the unit alive for many periods; a
// child that stops pinging under --watchdog-sec is sockact's business (it restarts the child,
// systemd records nothing); a sockact that hangs (SIGSTOP) is systemd's: the watchdog kills it,
// Restart=on-failure brings it back, and with the fd store no connection is refused meanwhile.
import { expect } from 'vitest';
import { httpGet } from '../_support/http.js';
import { loadDuring } from '../_support/http-load.js';
import {
  APP,
  describeSystemd,
  freePort,
  helloPid,
  it,
  listeningInode,
  sockactService,
  startedReady,
  unitsPerTest,
  waitJournal,
  waitShow,
} from '../_support/systemd.js';
import { waitUntil } from '../_support/wait.js';

describeSystemd('watchdog: WatchdogSec= on sockact', (ctx) => {
  const units = unitsPerTest(ctx);

  it('WatchdogSec=1s: sockact keeps the unit alive for four periods, MainPID and NRestarts unchanged', async () => {
    const { sd } = ctx;
    const UNIT = 'wd-alive.service';
    const port = await freePort();
    await units.install({
      [UNIT]: sockactService(`-l 127.0.0.1:${port},name=web -- ${process.execPath} ${APP}`, ['WatchdogSec=1s']),
    });
    const main = await startedReady(sd, UNIT);
    const first = await sd.show(UNIT, ['WatchdogTimestampMonotonic']);
    // systemd would have killed a main process silent for one period long before this.
    await waitShow(
      sd,
      UNIT,
      ['WatchdogTimestampMonotonic'],
      (v) => Number(v.WatchdogTimestampMonotonic) - Number(first.WatchdogTimestampMonotonic) >= 4_000_000,
      'pinged 4 s after the first ping',
    );
    expect(await sd.show(UNIT, ['ActiveState', 'MainPID', 'NRestarts', 'Result'])).toEqual({
      ActiveState: 'active',
      MainPID: String(main.ns),
      NRestarts: '0',
      Result: 'success',
    });
  }, 30_000);

  it('a child silent under --watchdog-sec is restarted by sockact; systemd sees no watchdog failure', async () => {
    const { sd } = ctx;
    const UNIT = 'wd-child.service';
    const port = await freePort();
    // sockact stops pinging systemd while a child is not ready (a crash loop is systemd's to
    // restart), so WatchdogSec= must outlast the child's period plus its restart: 3 s over 500 ms.
    const app = `${process.execPath} ${APP}`;
    const args = `--watchdog-sec 500ms --restart on-failure -l 127.0.0.1:${port},name=web -- ${app}`;
    await units.install({
      [UNIT]: sockactService(args, ['WatchdogSec=3s', 'Environment=STOP_PINGING_IF=/run/stop-pinging']),
    });
    const main = await startedReady(sd, UNIT);
    const before = helloPid((await httpGet({ host: '127.0.0.1', port })).body);
    await sd.exec(['touch', '/run/stop-pinging']);
    await waitJournal(sd, UNIT, new RegExp(`pid ${before} stops pinging`));
    await waitJournal(sd, UNIT, new RegExp(`pid ${before} sent no WATCHDOG=1 for 500 ms: stopping it with SIGABRT`));
    await waitUntil(
      `a pid other than ${before} answering`,
      async () => helloPid((await httpGet({ host: '127.0.0.1', port })).body) !== before,
    );
    // Two more of systemd's periods: a missed ping would show by then.
    const at = Number((await sd.show(UNIT, ['WatchdogTimestampMonotonic'])).WatchdogTimestampMonotonic);
    await waitShow(
      sd,
      UNIT,
      ['WatchdogTimestampMonotonic'],
      (v) => Number(v.WatchdogTimestampMonotonic) - at >= 3_000_000,
      'pinged for 3 s more',
    );
    expect(await sd.show(UNIT, ['ActiveState', 'MainPID', 'NRestarts', 'Result'])).toEqual({
      ActiveState: 'active',
      MainPID: String(main.ns),
      NRestarts: '0',
      Result: 'success',
    });
    expect(await sd.journal(UNIT)).not.toMatch(/[Ww]atchdog timeout/);
  }, 60_000);

  it('a hung sockact (SIGSTOP): watchdog kill, Restart=on-failure, fd store: nothing refused', async () => {
    const { sd } = ctx;
    const UNIT = 'wd-hung.service';
    const port = await freePort();
    const args = `--fd-store --restart on-failure -l 127.0.0.1:${port},name=web -- ${process.execPath} ${APP}`;
    await units.install({
      [UNIT]: sockactService(args, [
        'WatchdogSec=1s',
        'Restart=on-failure',
        'RestartSec=100ms',
        'FileDescriptorStoreMax=16',
        'TimeoutAbortSec=3s',
      ]),
    });
    const main = await startedReady(sd, UNIT);
    await waitShow(
      sd,
      UNIT,
      ['NFileDescriptorStore'],
      (v) => v.NFileDescriptorStore === '1',
      'the socket in the fd store',
    );
    const inode = listeningInode(port);
    expect(inode).toBeGreaterThan(0);
    const load = await loadDuring(port, 4, async () => {
      process.kill(main.host!, 'SIGSTOP');
      await waitJournal(sd, UNIT, /[Ww]atchdog timeout/);
      await waitShow(
        sd,
        UNIT,
        ['ActiveState', 'MainPID', 'NRestarts'],
        (v) => v.ActiveState === 'active' && v.NRestarts === '1' && v.MainPID !== String(main.ns),
        'restarted',
        30_000,
      );
    });
    const journal = await sd.journal(UNIT);
    // Requests the killed app had in flight may be reset; none may be refused.
    expect(
      load.failed.filter((f) => !/ECONNRESET|socket hang up/.test(f)),
      journal,
    ).toEqual([]);
    expect(load.ok).toBeGreaterThan(0);
    // sockact died of the watchdog's SIGABRT itself (it passes other signals on to its app), so
    // systemd did not have to wait out TimeoutAbortSec= and SIGKILL it.
    expect(journal).toMatch(/Main process exited, code=(dumped|killed), status=6\/ABRT/);
    expect(journal).not.toMatch(/State 'stop-watchdog' timed out/);
    // The same listening socket, from the store: never closed, so never refused.
    expect(listeningInode(port)).toBe(inode);
    expect((await sd.show(UNIT, ['NFileDescriptorStore'])).NFileDescriptorStore).toBe('1');
    expect(journal).toMatch(/listening on 127\.0\.0\.1:\d+ as fd 3 \(web\), taken back from the fd store/);
    console.log(
      `watchdog kill under load: ${load.ok} ok, ${load.failed.length} failed (${[...new Set(load.failed)].join('; ')})`,
    );
  }, 60_000);
});
