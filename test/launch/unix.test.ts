// The socket file and its parents are never changed by name after they are made: a directory
// anyone can write lets them swap a name for a symlink (or a hard link) between two calls, and a
// chmod or chown by name would then change whatever the link points at.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SockactError } from '../../src/protocol/errors.js';
import { bindUnixPath, prepareUnixPath } from '../../src/launch/unix.js';
import { parseListen } from '../../src/protocol/address.js';
import { bind, closeFd, socket } from '../../src/sys/index.js';
import { PYTHON } from '../_support/launcher.js';
import { itAsRoot } from '../_support/root.js';
import { perTest } from '../_support/tmp.js';

const { defer, dir } = perTest();

/** A root-owned 0600 file standing for /etc/shadow: what an attacker would like to get. */
function victimFile(d: string): string {
  const victim = join(d, 'victim');
  writeFileSync(victim, 'secret');
  chmodSync(victim, 0o600);
  return victim;
}

/** bindUnixPath with a bind that, once the socket file exists, lets `swap` replace it. */
function bindThenSwap(text: string, path: string, swap: () => void): unknown {
  const fd = socket('unix', 'stream');
  defer(() => closeFd(fd));
  try {
    bindUnixPath(parseListen(text), path, () => {
      bind(fd, { family: 'unix', path });
      swap();
    });
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('bindUnixPath: mode and owner never reach through a swapped name', () => {
  it(
    'sets the mode through the umask at bind time: ' + 'a symlink swapped in after bind points at an untouched file',
    () => {
      const d = dir();
      const victim = victimFile(d);
      const path = join(d, 'app.sock');
      const err = bindThenSwap(`${path},mode=0666`, path, () => {
        unlinkSync(path);
        symlinkSync(victim, path);
      });
      // Nothing is done by name after bind when no owner is asked for: no error, and nothing changed.
      expect(err).toBeUndefined();
      expect(statSync(victim).mode & 0o7777).toBe(0o600);
    },
  );

  itAsRoot('refuses to chown a symlink swapped in after bind, and leaves its target alone', () => {
    const d = dir();
    const victim = victimFile(d);
    const path = join(d, 'app.sock');
    const err = bindThenSwap(`${path},mode=0666,user=nobody,group=nogroup`, path, () => {
      unlinkSync(path);
      symlinkSync(victim, path);
    });
    expect(err).toBeInstanceOf(SockactError);
    expect((err as Error).message).toBe(
      `can't listen on ${path}: can't set its owner: the socket file was replaced by a symlink after bind`,
    );
    const st = statSync(victim);
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o600]);
    expect(lstatSync(path).isSymbolicLink()).toBe(true); // not ours to remove
  });

  itAsRoot(
    'refuses to chown a hard link swapped in after bind (one link, a socket, ours: else not the file bind made)',
    () => {
      const d = dir();
      const victim = victimFile(d);
      const path = join(d, 'app.sock');
      const err = bindThenSwap(`${path},user=nobody`, path, () => {
        unlinkSync(path);
        linkSync(victim, path);
      });
      expect((err as Error).message).toBe(
        `can't listen on ${path}: can't set its owner: the socket file was replaced after bind`,
      );
      expect(statSync(victim).uid).toBe(0);
    },
  );

  itAsRoot('chowns the socket it made, through its fd', () => {
    const path = join(dir(), 'app.sock');
    expect(bindThenSwap(`${path},mode=0600,user=nobody,group=nogroup`, path, () => {})).toBeUndefined();
    const st = lstatSync(path);
    expect(st.isSocket()).toBe(true);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([65534, 65534, 0o600]);
  });
});

/** A racer that swaps a symlink in for a directory whenever it appears (see the fixture). */
const RACER = join(import.meta.dirname, 'fixtures/dir-swapper.py');

describe('prepareUnixPath: parent directories', () => {
  it(
    'makes missing parents 0755 by mkdir under umask 0, ' +
      'and never chmods a directory swapped in for one (bounded race)',
    async () => {
      const d = dir();
      const victim = join(d, 'victim');
      mkdirSync(victim, 0o700);
      chmodSync(victim, 0o700);
      const parent = join(d, 'new');
      const racer = spawn(PYTHON, [RACER, parent, victim, join(d, 'moved-')], { stdio: ['ignore', 'pipe', 'inherit'] });
      const gone = new Promise((res) => racer.on('exit', res));
      defer(() => racer.kill('SIGKILL'));
      await new Promise((res) => racer.stdout.once('data', res));
      const spec = parseListen(join(parent, 'app.sock'));
      let won = 0;
      // Bounded: 300 creations, each a fresh chance for the racer (the old chmod by name lost within a few dozen).
      for (let i = 0; i < 300; i++) {
        try {
          const there = lstatSync(parent, { throwIfNoEntry: false });
          if (there?.isSymbolicLink()) unlinkSync(parent);
          else if (there) rmSync(parent, { recursive: true });
        } catch {
          // The racer swapped the name between our lstat and the removal: sockact still faces a race.
        }
        try {
          prepareUnixPath(spec, join(parent, 'app.sock'));
        } catch {
          won++; // the racer took the name: refused, as it should be
        }
        expect(statSync(victim).mode & 0o7777).toBe(0o700);
      }
      racer.kill('SIGKILL');
      await gone;
      // The racer did get in at least once: the test raced for real.
      expect(won + (existsSync(join(d, 'moved-1')) ? 1 : 0)).toBeGreaterThan(0);
    },
  );
});
