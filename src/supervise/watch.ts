import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SockactError } from '../protocol/errors.js';
import { errorReason } from '../sys/errors.js';

/** Names never watched: dependencies and version control change without the app changing. */
export const WATCH_IGNORED: readonly string[] = ['node_modules', '.git'];

/** Every path to watch must be there to begin with: the first one that is not is named (before anything is bound). */
export function checkWatchPaths(paths: readonly string[]): void {
  for (const p of paths) {
    try {
      statSync(resolve(p));
    } catch (err) {
      throw new SockactError('ERR_WATCH', `--watch ${p}: ${errorReason(err)}`, { value: p, cause: err });
    }
  }
}

export interface Watcher {
  close(): void;
  /** How many directories and files are watched (one inotify watch each). */
  readonly size: number;
}

/**
 * Call `onChange(path)` once things stop changing for `debounceMs` after a change under any of
 * `paths` (files or directory trees). Directories are walked once and watched one by one (inotify
 * has no recursive watch), skipping WATCH_IGNORED; directories created later are added as they
 * appear. A quiet tree costs no timer and no CPU: inotify wakes the process only on a change.
 */
export function watchPaths(paths: readonly string[], debounceMs: number, onChange: (path: string) => void): Watcher {
  const watcher = new PathWatcher(debounceMs, onChange);
  for (const p of paths) {
    const full = resolve(p);
    if (statSync(full).isDirectory()) watcher.addTree(full);
    else watcher.addFile(full);
  }
  return watcher;
}

/** The fs.watch() handles of watchPaths, by path, and the debounce they share. */
class PathWatcher implements Watcher {
  readonly #watchers = new Map<string, FSWatcher>();
  #timer: NodeJS.Timeout | undefined;
  #last = '';

  constructor(
    private readonly debounceMs: number,
    private readonly onChange: (path: string) => void,
  ) {}

  get size(): number {
    return this.#watchers.size;
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  /** Watch `dir` and every directory under it, but those WATCH_IGNORED names. */
  addTree(dir: string): void {
    this.#addDir(dir);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && !WATCH_IGNORED.includes(e.name)) this.addTree(join(dir, e.name));
  }

  /** A file is watched through its directory: editors replace files, and a watch on the old inode would go quiet. */
  addFile(file: string): void {
    const key = `file:${file}`;
    if (this.#watchers.has(key)) return;
    const w = watch(dirname(file), { persistent: true }, (_event, name) => {
      if (name !== null && String(name) === basename(file)) this.#changed(file);
    });
    this.#keep(key, w);
  }

  #changed(path: string): void {
    this.#last = path;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.onChange(this.#last);
    }, this.debounceMs);
  }

  #addDir(path: string): void {
    if (this.#watchers.has(path) || WATCH_IGNORED.includes(basename(path))) return;
    let w: FSWatcher;
    try {
      w = watch(path, { persistent: true }, (_event, name) => this.#dirChanged(path, name));
    } catch {
      return; // vanished between readdir and watch
    }
    this.#keep(path, w);
  }

  /** A change in a watched directory: a directory made in it is watched from now on. */
  #dirChanged(dir: string, name: string | Buffer | null): void {
    if (name === null) return this.#changed(dir);
    const file = String(name);
    if (WATCH_IGNORED.includes(file)) return;
    const full = join(dir, file);
    try {
      if (statSync(full).isDirectory()) this.addTree(full);
    } catch {
      // removed again, or a dangling link: still a change
    }
    this.#changed(full);
  }

  /** A watch that fails (its directory removed, say) is dropped; the others go on. */
  #keep(key: string, w: FSWatcher): void {
    w.on('error', () => {
      w.close();
      this.#watchers.delete(key);
    });
    this.#watchers.set(key, w);
  }
}
