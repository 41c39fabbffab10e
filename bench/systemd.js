// Issue 16: sockact under a real systemd (252 here), booted privately for the run
// (test/_support/systemd-ns.js). Two figures, both under wrk keep-alive load, loopback only:
// - 10 `systemctl reload`s of a Type=notify unit whose main process is sockact: failed requests
//   and how often systemd's MainPID changed (both should be 0);
// - `systemctl restart` of the same unit with the fd store (--fd-store, FileDescriptorStoreMax=)
//   and without it, alternating, side by side: wrk's failed requests, and refused connections
//   (a prober connecting every 5 ms from the restart until the unit is back: nothing listened).
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { boot, cannotBoot } from '../test/_support/systemd-ns.js';
import { freePort } from './launch.js';
import { median, root, sockactBin } from './lib.js';
import { wrk } from './supervise.js';

const appPath = join(root, 'bench', 'fixtures', 'app.mjs');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function unit(port, { store }) {
  return [
    '[Service]',
    'Type=notify',
    'NotifyAccess=main',
    `ExecStart=${process.execPath} ${sockactBin} ${store ? '--fd-store ' : ''}-l 127.0.0.1:${port}` +
      ` -- ${process.execPath} ${appPath}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'KillMode=mixed',
    'TimeoutStopSec=20s',
    ...(store ? ['FileDescriptorStoreMax=16'] : []),
    '',
  ].join('\n');
}

async function until(what, check, timeoutMs = 30_000) {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

async function install(sd, name, text) {
  sd.writeUnit(name, text);
  await sd.daemonReload();
  await sd.systemctl('start', name);
  await until(`${name} active`, async () => (await sd.show(name, ['ActiveState'])).ActiveState === 'active');
}

/** 10 reloads, each awaited until systemd reads active with the new generation, under wrk. */
async function reloads(sd, count) {
  const port = await freePort();
  const name = 'bench-reload.service';
  await install(sd, name, unit(port, { store: false }));
  const mainPids = new Set([(await sd.show(name, ['MainPID'])).MainPID]);
  const seconds = 4 + count * 1.5;
  const load = wrk({ port, close: false, seconds: Math.ceil(seconds), pin: null });
  await sleep(1000);
  const took = [];
  for (let gen = 2; gen <= count + 1; gen++) {
    const t0 = performance.now();
    await sd.systemctl('reload', name);
    await until(`generation ${gen}`, async () => {
      const v = await sd.show(name, ['ActiveState', 'StatusText', 'MainPID']);
      mainPids.add(v.MainPID);
      return v.ActiveState === 'active' && v.StatusText.includes(`generation ${gen} `);
    });
    took.push(performance.now() - t0);
  }
  const w = await load;
  await sd.systemctl('stop', name);
  return {
    reloads: took.length,
    reloadToReadyMsMedian: Math.round(median(took)),
    requests: w.requests,
    failed: w.failed,
    errors: w.errors,
    mainPidChanges: mainPids.size - 1,
  };
}

/**
 * New connections, one after another, until `stop()`: how many were accepted (connected) and
 * how many refused. wrk's keep-alive connections say little about refusals (a refused reconnect
 * shows as a write error), so this counts them apart.
 */
function probe(port) {
  const counts = { connected: 0, refused: 0, other: 0 };
  let running = true;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        counts.connected++;
        s.destroy();
        resolve();
      });
      s.once('error', (e) => {
        if (e.code === 'ECONNREFUSED') counts.refused++;
        else counts.other++;
        resolve();
      });
    });
  const loop = (async () => {
    // Bounded: at most 20 000 connections, one every 5 ms.
    for (let i = 0; running && i < 20_000; i++) {
      await one();
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return counts;
    },
  };
}

/**
 * One `systemctl restart` 2 s into a 7 s wrk run (its timeout 10 s, so that connections waiting
 * in a stored socket's backlog count as slow, not failed), with the prober beside it.
 */
async function restartOnce(sd, name, port) {
  const before = (await sd.show(name, ['MainPID'])).MainPID;
  const load = wrk({ port, close: false, seconds: 7, pin: null, timeout: 10 });
  await sleep(2000);
  const p = probe(port);
  const t0 = performance.now();
  await sd.systemctl('restart', name);
  await until('active again', async () => {
    const v = await sd.show(name, ['ActiveState', 'MainPID']);
    return v.ActiveState === 'active' && v.MainPID !== before;
  });
  const restartMs = performance.now() - t0;
  await sleep(500);
  const probed = await p.stop();
  const w = await load;
  return {
    requests: w.requests,
    failed: w.failed,
    errors: w.errors,
    refused: probed.refused,
    probed,
    restartMs: Math.round(restartMs),
  };
}

async function restarts(sd, rounds) {
  const store = { port: await freePort(), name: 'bench-store.service' };
  const plain = { port: await freePort(), name: 'bench-plain.service' };
  await install(sd, store.name, unit(store.port, { store: true }));
  await install(sd, plain.name, unit(plain.port, { store: false }));
  const out = { withFdStore: [], withoutFdStore: [] };
  // Alternated, so that whatever else the machine does falls on both alike.
  for (let i = 0; i < rounds; i++) {
    out.withFdStore.push(await restartOnce(sd, store.name, store.port));
    out.withoutFdStore.push(await restartOnce(sd, plain.name, plain.port));
  }
  const { NFileDescriptorStore } = await sd.show(store.name, ['NFileDescriptorStore']);
  await sd.systemctl('stop', store.name, plain.name);
  const sum = (xs, k) => xs.reduce((a, x) => a + x[k], 0);
  return {
    rounds,
    nFileDescriptorStore: Number(NFileDescriptorStore),
    summary: {
      withFdStore: {
        failed: sum(out.withFdStore, 'failed'),
        refused: sum(out.withFdStore, 'refused'),
        requests: sum(out.withFdStore, 'requests'),
      },
      withoutFdStore: {
        failed: sum(out.withoutFdStore, 'failed'),
        refused: sum(out.withoutFdStore, 'refused'),
        requests: sum(out.withoutFdStore, 'requests'),
      },
    },
    ...out,
  };
}

export async function run({ reloadCount = 10, restartRounds = 3 } = {}) {
  const why = cannotBoot();
  if (why) return { skipped: `cannot boot a private systemd: ${why}` };
  if (spawnSync('wrk', ['--version']).error) return { skipped: 'wrk is not installed (apt-get install wrk)' };
  const version = /^systemd (\d+)/.exec(spawnSync('systemctl', ['--version'], { encoding: 'utf8' }).stdout)?.[1];
  const sd = await boot({ tag: 'bench' });
  try {
    return {
      name:
        `sockact under systemd ${version}: ${reloadCount} systemctl reloads, and systemctl restart with and ` +
        'without the fd store, under wrk -t2 -c32 keep-alive',
      systemd: Number(version),
      reload: await reloads(sd, reloadCount),
      restart: await restarts(sd, restartRounds),
    };
  } finally {
    await sd.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(JSON.stringify(await run(), null, 2));
