// Go programs written against Debian's go-systemd, built for a test file in GOPATH mode (the
// Debian package is a GOPATH tree, not a module). Missing Go or go-systemd is a failure that names
// the package to install, never a skip: the project promises that go-systemd accepts what it passes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** Where golang-github-coreos-go-systemd-dev puts its GOPATH tree. */
export const GO_SYSTEMD_GOPATH = '/usr/share/gocode';
const GO_SYSTEMD = join(GO_SYSTEMD_GOPATH, 'src/github.com/coreos/go-systemd');
/** How long `go build` may take before it is killed; a cold cache on a newer Go takes tens of seconds. */
const GO_BUILD_TIMEOUT_MS = 110_000;

/** Debian's go (golang-go) when present, else the one on PATH; undefined when there is none. */
function findGo(): string | undefined {
  if (existsSync('/usr/bin/go')) return '/usr/bin/go';
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  return undefined;
}

/**
 * Build the Go program in `srcDir` (package main importing github.com/coreos/go-systemd/...) to
 * `out` and return `out`. Throws a one-line error naming the Debian package when Go or go-systemd
 * is missing, and the compiler's output when the build fails. Go's own cache (~/.cache/go-build)
 * keeps a rebuild at ~1 s; `tmp` holds one when there is no default ($HOME unset).
 */
export function goBuild(srcDir: string, out: string, tmp: string): string {
  const go = findGo();
  if (!go) throw new Error('go is missing (neither /usr/bin/go nor one on PATH): install golang-go');
  if (!existsSync(join(GO_SYSTEMD, 'activation')) || !existsSync(join(GO_SYSTEMD, 'daemon'))) {
    throw new Error(`go-systemd is missing (no ${GO_SYSTEMD}/activation): install golang-github-coreos-go-systemd-dev`);
  }
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH: GO_SYSTEMD_GOPATH, GOFLAGS: '' };
  if (!env.GOCACHE && !env.XDG_CACHE_HOME && !env.HOME) env.GOCACHE = join(tmp, 'go-build');
  try {
    // A synchronous call that beforeAll's timeout cannot interrupt: a stuck build would hang the
    // vitest worker, so it is killed just before that timeout (120 s) would have fired.
    execFileSync(go, ['build', '-o', out, '.'], {
      cwd: srcDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: GO_BUILD_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
  } catch (err) {
    const e = err as {
      stdout?: string;
      stderr?: string;
      message: string;
      signal?: NodeJS.Signals | null;
      code?: string;
    };
    const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim();
    if (e.signal) {
      const when = e.code === 'ETIMEDOUT' ? ` after ${GO_BUILD_TIMEOUT_MS / 1000} s` : '';
      throw new Error(`go build of ${srcDir} was killed by ${e.signal}${when}${output ? `: ${output}` : ''}`);
    }
    throw new Error(`go build of ${srcDir} failed: ${output || e.message}`);
  }
  return out;
}
