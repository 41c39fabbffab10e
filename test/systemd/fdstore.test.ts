// sockact --fd-store under systemd 252 (FileDescriptorStoreMax=, no $FDSTORE before 254): the
// listening sockets outlive sockact in systemd's fd store, so `systemctl restart` and a SIGKILL of
// the whole unit (Restart=on-failure) under load refuse nothing, and the socket after is the one
// before (same inode); NFileDescriptorStore= counts what sockact stored, and a -l dropped from
// the command line is dropped from the store.
import { expect } from 'vitest';
import { loadDuring } from '../_support/http-load.js';
import {
  APP,
  describeSystemd,
  freePort,
  it,
  listeningInode,
  type Systemd,
  sockactService,
  startedReady,
  unitsPerTest,
  waitJournal,
  waitShow,
} from '../_support/systemd.js';

const storeUnit = (listen: string) =>
  sockactService(`--fd-store --restart on-failure ${listen} -- ${process.execPath} ${APP}`, [
    'FileDescriptorStoreMax=16',
    'Restart=on-failure',
    'RestartSec=100ms',
  ]);

/** Active again under a new main pid with generation 1 ready, after `count` starts in all. */
async function backUp(
  sd: Systemd,
  unit: string,
  oldMain: number,
  props: (v: Record<string, string>) => boolean = () => true,
) {
  return waitShow(
    sd,
    unit,
    ['ActiveState', 'MainPID', 'NRestarts', 'StatusText', 'NFileDescriptorStore'],
    (v) =>
      v.ActiveState === 'active' &&
      v.MainPID !== String(oldMain) &&
      v.MainPID !== '0' &&
      /^ready, generation 1/.test(v.StatusText!) &&
      props(v),
    'back up under a new main pid',
    30_000,
  );
}

describeSystemd('fd store: sockact --fd-store with FileDescriptorStoreMax=', (ctx) => {
  const units = unitsPerTest(ctx);

  it('systemctl restart under load: 0 failed, same listening socket, NFileDescriptorStore=1', async () => {
    const { sd } = ctx;
    const unit = 'store-restart.service';
    const port = await freePort();
    await units.install({ [unit]: storeUnit(`-l 127.0.0.1:${port},name=web`) });
    const main = await startedReady(sd, unit);
    await waitShow(sd, unit, ['NFileDescriptorStore'], (v) => v.NFileDescriptorStore === '1', 'one socket stored');
    const inode = listeningInode(port);
    const load = await loadDuring(port, 8, async () => {
      await sd.systemctl('restart', unit);
      await backUp(sd, unit, main.ns);
    });
    expect(load.failed, await sd.journal(unit)).toEqual([]);
    expect(listeningInode(port)).toBe(inode);
    expect((await sd.show(unit, ['NFileDescriptorStore'])).NFileDescriptorStore).toBe('1');
    await waitJournal(sd, unit, /as fd 3 \(web\), taken back from the fd store/);
    console.log(`systemctl restart with the fd store: ${load.ok} ok, ${load.failed.length} failed`);
  }, 60_000);

  it('systemctl kill -s KILL with Restart=on-failure under load: 0 refused, same socket', async () => {
    const { sd } = ctx;
    const unit = 'store-kill.service';
    const port = await freePort();
    await units.install({ [unit]: storeUnit(`-l 127.0.0.1:${port},name=web`) });
    const main = await startedReady(sd, unit);
    await waitShow(sd, unit, ['NFileDescriptorStore'], (v) => v.NFileDescriptorStore === '1', 'one socket stored');
    const inode = listeningInode(port);
    const load = await loadDuring(port, 8, async () => {
      await sd.systemctl('kill', '-s', 'KILL', unit);
      await backUp(sd, unit, main.ns, (v) => v.NRestarts === '1');
    });
    // Requests the SIGKILLed app had in flight are reset; a refused connection would mean the
    // listening socket had closed.
    expect(
      load.failed.filter((f) => !/ECONNRESET|socket hang up/.test(f)),
      await sd.journal(unit),
    ).toEqual([]);
    // At most the one request each of the 8 connections had in flight.
    expect(load.failed.length).toBeLessThanOrEqual(8);
    expect(listeningInode(port)).toBe(inode);
    expect((await sd.show(unit, ['NFileDescriptorStore', 'Result'])).NFileDescriptorStore).toBe('1');
    await waitJournal(sd, unit, /Main process exited, code=killed, status=9\/KILL/);
    const why = [...new Set(load.failed)].join('; ');
    console.log(`systemctl kill -s KILL with the fd store: ${load.ok} ok, ${load.failed.length} failed (${why})`);
  }, 60_000);

  it('a -l removed from the command line is removed from the store on the next start', async () => {
    const { sd } = ctx;
    const unit = 'store-drop.service';
    const [web, extra] = [await freePort(), await freePort()];
    await units.install({ [unit]: storeUnit(`-l 127.0.0.1:${web},name=web -l 127.0.0.1:${extra},name=extra`) });
    const main = await startedReady(sd, unit);
    await waitShow(sd, unit, ['NFileDescriptorStore'], (v) => v.NFileDescriptorStore === '2', 'two sockets stored');
    const inode = listeningInode(web);
    expect(listeningInode(extra)).toBeGreaterThan(0);
    await units.install({ [unit]: storeUnit(`-l 127.0.0.1:${web},name=web`) });
    await sd.systemctl('restart', unit);
    await backUp(sd, unit, main.ns, (v) => v.NFileDescriptorStore === '1');
    expect(listeningInode(web)).toBe(inode);
    // Closed by sockact and by systemd: nothing listens there any more.
    expect(listeningInode(extra)).toBeUndefined();
  }, 60_000);
});
