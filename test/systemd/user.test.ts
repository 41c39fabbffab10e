// --user and RuntimeDirectory= under systemd 252: sockact (root, the main process) binds a TCP
// socket and a UNIX socket in the RuntimeDirectory= systemd made, then runs its children as the
// user; the socket file has the owner and mode the unit's -l says, and sockact's control socket
// is where the README says for a system service (/run/sockact/NAME.sock, in a 0700 directory),
// answering `sockact status --name NAME` run inside the service's namespace.
import { readFileSync, statSync } from 'node:fs';
import { expect } from 'vitest';
import { httpGet } from '../_support/http.js';
import {
  APP,
  describeSystemd,
  freePort,
  helloPid,
  it,
  SOCKACT_CMD,
  sockactService,
  startedReady,
  unitsPerTest,
  waitJournal,
} from '../_support/systemd.js';

const idOf = (file: string, name: string) =>
  Number(new RegExp(`^${name}:[^:]*:(\\d+):`, 'm').exec(readFileSync(file, 'utf8'))?.[1]);
const NOBODY = idOf('/etc/passwd', 'nobody');
const NOGROUP = idOf('/etc/group', 'nogroup');

describeSystemd('user: --user and RuntimeDirectory=', (ctx) => {
  const units = unitsPerTest(ctx);

  it('children run as the user; socket owner and mode as the unit says; control socket in /run/sockact', async () => {
    const { sd } = ctx;
    const unit = 'user-app.service';
    const port = await freePort();
    const args = [
      '--name user-app',
      `-l 127.0.0.1:${port},name=web`,
      '-l /run/user-app/app.sock,name=unix,mode=0660,group=nogroup',
      `--user nobody -- ${process.execPath} ${APP}`,
    ].join(' ');
    await units.install({ [unit]: sockactService(args, ['RuntimeDirectory=user-app', 'RuntimeDirectoryMode=0755']) });
    const main = await startedReady(sd, unit);
    await waitJournal(sd, unit, /ready, generation 1/);
    const root = `/proc/${sd.pid}/root`;
    // RuntimeDirectory= as systemd made it: root's (no User=), the mode the unit says.
    const rd = statSync(`${root}/run/user-app`);
    expect({ uid: rd.uid, mode: (rd.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '755' });
    const sock = statSync(`${root}/run/user-app/app.sock`);
    expect({ socket: sock.isSocket(), uid: sock.uid, gid: sock.gid, mode: (sock.mode & 0o777).toString(8) }).toEqual({
      socket: true,
      uid: 0,
      gid: NOGROUP,
      mode: '660',
    });
    // The app, as systemd numbers it, runs as nobody; sockact, the main process, as root.
    const app = helloPid((await httpGet({ host: '127.0.0.1', port })).body);
    const uid = (pid: number) =>
      Number(/^Uid:\t(\d+)/m.exec(readFileSync(`/proc/${sd.hostPid(pid)}/status`, 'utf8'))?.[1]);
    expect(uid(app)).toBe(NOBODY);
    expect(uid(main.ns)).toBe(0);
    expect(helloPid((await httpGet({ socketPath: `${root}/run/user-app/app.sock` })).body)).toBe(app);
    // The control socket of a system service: /run/sockact/NAME.sock, its directory private.
    const dir = statSync(`${root}/run/sockact`);
    expect({ uid: dir.uid, mode: (dir.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '700' });
    expect(statSync(`${root}/run/sockact/user-app.sock`).isSocket()).toBe(true);
    const status = await sd.exec([...SOCKACT_CMD.split(' '), 'status', '--name', 'user-app']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/generation 1/);
    await sd.systemctl('stop', unit);
    // RuntimeDirectory= goes with the service (no RuntimeDirectoryPreserve=), socket and all.
    expect(() => statSync(`${root}/run/user-app`)).toThrow();
  }, 60_000);
});
