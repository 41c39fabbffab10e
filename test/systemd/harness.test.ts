// The private systemd the tests in this folder run against (test/_support/systemd-ns.js): it
// boots here (in CI as root it must), it is a real PID 1 on a cgroup of its own, and it leaves
// nothing behind, whether stopped in order or when the process that booted it is killed.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../_support/launcher.js';
import { CANNOT_BOOT, describeSystemd, MUST_BOOT, unitsPerTest } from '../_support/systemd.js';
import { boot, leftoversOf, sweepStale } from '../_support/systemd-ns.js';
import { waitUntil } from '../_support/wait.js';

const WHY = CANNOT_BOOT ? `cannot: ${CANNOT_BOOT}` : 'it can';

describe('where the private systemd can run', () => {
  it(`boots here unless the machine lacks something; in CI as root it must (${WHY})`, () => {
    if (MUST_BOOT) expect(CANNOT_BOOT).toBeUndefined();
    // Elsewhere a skip is allowed, but only with a reason a reader can act on.
    else if (CANNOT_BOOT) expect(CANNOT_BOOT).toMatch(/^(not root|not Linux|no )/);
  });
});

describeSystemd('harness: a private systemd', (ctx) => {
  const units = unitsPerTest(ctx);

  it('is PID 1 of its own pid namespace, rooted at its own cgroup, and runs units there', async () => {
    const { sd } = ctx;
    expect(/^NSpid:\t(.*)$/m.exec(readFileSync(`/proc/${sd.pid}/status`, 'utf8'))?.[1]).toBe(`${sd.pid}\t1`);
    expect((await sd.exec(['systemctl', 'is-system-running'])).stdout.trim()).toMatch(/^(running|degraded)$/);
    await units.install({ 'probe.service': '[Service]\nExecStart=/bin/sleep 600\n' });
    await sd.systemctl('start', 'probe.service');
    const { MainPID, ControlGroup } = await sd.show('probe.service', ['MainPID', 'ControlGroup']);
    expect(ControlGroup).toBe('/system.slice/probe.service');
    const host = sd.hostPid(MainPID!);
    expect(readFileSync(`/proc/${host}/cmdline`, 'utf8')).toBe('/bin/sleep\x00600\x00');
    expect(await sd.pidsOf('probe.service')).toEqual([host]);
  });

  it('stop() leaves no process, namespace, cgroup, mount or directory, even with units running', async () => {
    const other = await boot({ tag: 'harness-stop' });
    try {
      other.writeUnit(
        'tree.service',
        '[Service]\nExecStart=/bin/sh -c "sleep 600 & sleep 600 & wait"\nPrivateTmp=yes\n',
      );
      await other.daemonReload();
      await other.systemctl('start', 'tree.service');
      expect((await other.pidsOf('tree.service')).length).toBe(3);
      expect(other.leftovers().length).toBeGreaterThan(3);
    } finally {
      await other.stop();
    }
    expect(other.leftovers()).toEqual([]);
  });

  it('dies with the process that booted it; the next boot sweeps its cgroup and directory', async () => {
    const script = `
      import { boot } from ${JSON.stringify(join(ROOT, 'test/_support/systemd-ns.js'))};
      const sd = await boot({ tag: 'harness-orphan' });
      sd.writeUnit('s.service', '[Service]\\nExecStart=/bin/sleep 600\\n');
      await sd.daemonReload();
      await sd.systemctl('start', 's.service');
      console.log(JSON.stringify({ ns: sd.ns, cgroup: sd.cgroup, dir: sd.dir }));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').once('data', resolve);
      child.once('exit', (code) =>
        reject(new Error(`the booting process ended (${code}) before it said what it booted`)),
      );
    });
    const booted = JSON.parse(line);
    expect(leftoversOf(booted).some((l) => l.includes('pid namespace'))).toBe(true);
    child.kill('SIGKILL');
    await waitUntil(
      'every process of the orphaned instance gone',
      () => !leftoversOf(booted).some((l) => /namespace/.test(l)),
      {
        seen: () => leftoversOf(booted).join('; '),
      },
    );
    sweepStale();
    expect(leftoversOf(booted)).toEqual([]);
  });
});
