// The README and the docs work where the package is read: on npm's page, in node_modules, in an
// editor. Every relative link and image in a markdown file of the packed tarball (README.md,
// BENCHMARKS.md, docs/*.md, contrib/**/*.md) names a file or directory inside the package, and a
// #fragment names a heading of the file it points into. Read from `npm pack` extracted into a
// temporary directory, so a file left out of package.json "files" fails here.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../_support/launcher.js';
import { anchors, links } from '../_support/markdown.js';
import { fileTempDir } from '../_support/tmp.js';

/**
 * Docs other branches add (the README and docs link them already). The integrator removes each
 * name once its file has landed: the last test below fails while a name here is in the package.
 */
const FORWARD: string[] = [];

const tmp = fileTempDir();

/** `npm pack` into tmp, extracted: the package's root directory and its file list. */
function unpacked(): { root: string; files: string[] } {
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  const { filename, files } = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0]!;
  execFileSync('tar', ['-xzf', join(tmp, filename), '-C', tmp]);
  return { root: join(tmp, 'package'), files: files.map((f) => f.path) };
}

/** "file:line: target: why" for every link of `file` (relative to root) that does not resolve inside root. */
function broken(root: string, file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  const out: string[] = [];
  for (const { line, target, image } of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: resolves anywhere
    const say = (why: string) => out.push(`${file}:${line}: ${image ? 'image ' : ''}${target}: ${why}`);
    const [path = '', fragment] = target.split('#');
    if (path.startsWith('/')) {
      say('an absolute path, which means nothing outside a checkout');
      continue;
    }
    const abs = path === '' ? join(root, file) : resolve(dirname(join(root, file)), decodeURIComponent(path));
    if (relative(root, abs).startsWith(`..${sep}`) || relative(root, abs) === '..') {
      say('outside the package');
      continue;
    }
    if (!existsSync(abs)) {
      say(FORWARD.includes(relative(root, abs)) ? 'not in this branch yet (FORWARD)' : 'no such file in the package');
      continue;
    }
    if (
      fragment !== undefined &&
      abs.endsWith('.md') &&
      statSync(abs).isFile() &&
      !anchors(readFileSync(abs, 'utf8')).has(fragment)
    ) {
      say(`no heading #${fragment} in ${relative(root, abs)}`);
    }
  }
  return out;
}

describe('links in the packed README and docs', () => {
  const { root, files } = unpacked();
  const markdown = files.filter((f) => f.endsWith('.md'));

  it('packs the README, BENCHMARKS.md and the docs', () => {
    for (const f of [
      'README.md',
      'BENCHMARKS.md',
      'docs/protocol.md',
      'docs/app.md',
      'docs/launcher.md',
      'contrib/systemd/README.md',
    ]) {
      expect(markdown).toContain(f);
    }
    expect(links(readFileSync(join(root, 'README.md'), 'utf8')).length).toBeGreaterThan(20);
  });

  it('every relative link and image resolves inside the package, #fragments to a heading', () => {
    const bad = markdown.flatMap((f) => broken(root, f));
    expect(bad.filter((b) => !b.endsWith('(FORWARD)'))).toEqual([]);
  });

  it('the README links every file in docs/', () => {
    const readme = new Set(links(readFileSync(join(root, 'README.md'), 'utf8')).map((l) => l.target.split('#')[0]));
    expect(files.filter((f) => /^docs\/[^/]+\.md$/.test(f) && !readme.has(f))).toEqual([]);
  });

  it('FORWARD names only files not in the package yet (remove each once it landed)', () => {
    expect(FORWARD.filter((f) => files.includes(f))).toEqual([]);
  });
});
