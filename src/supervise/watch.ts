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
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let last = '';

  const changed = (path: string) => {
    last = path;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange(last);
    }, debounceMs);
  };

  const add = (path: string, isDir = true) => {
    if (watchers.has(path) || WATCH_IGNORED.includes(basename(path))) return;
    let w: FSWatcher;
    try {
      w = watch(path, { persistent: true }, (_event, name) => {
        if (!isDir) return changed(path);
        if (name === null) return changed(path);
        const file = String(name);
        if (WATCH_IGNORED.includes(file)) return;
        const full = join(path, file);
        try {
          if (statSync(full).isDirectory()) addTree(full);
        } catch {
          // removed again, or a dangling link: still a change
        }
        changed(full);
      });
    } catch {
      return; // vanished between readdir and watch
    }
    w.on('error', () => {
      w.close();
      watchers.delete(path);
    });
    watchers.set(path, w);
  };

  const addTree = (dir: string) => {
    add(dir, true);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && !WATCH_IGNORED.includes(e.name)) addTree(join(dir, e.name));
  };

  /** A file is watched through its directory: editors replace files, and a watch on the old inode would go quiet. */
  const addFile = (file: string) => {
    const key = `file:${file}`;
    if (watchers.has(key)) return;
    const w = watch(dirname(file), { persistent: true }, (_event, name) => {
      if (name !== null && String(name) === basename(file)) changed(file);
    });
    w.on('error', () => {
      w.close();
      watchers.delete(key);
    });
    watchers.set(key, w);
  };

  for (const p of paths) {
    const full = resolve(p);
    if (statSync(full).isDirectory()) addTree(full);
    else addFile(full);
  }

  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
    get size() {
      return watchers.size;
    },
  };
}
