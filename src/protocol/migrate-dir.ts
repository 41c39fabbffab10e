/**
 * The migration directory (connection migration, app/migrate.ts and docs/migration.md): the
 * supervisor makes it (0700, the children's user) and names it to every child in
 * MIGRATE_DIR_ENV. In it, each worker that listens has its receiving socket,
 * `<generation>.<worker>.migrate`, and the supervisor keeps SERVING_FILE: one
 * `<generation>.<worker>` line per worker that is ready and kept (never a reload's candidate),
 * replaced whole by rename(2). A module of its own, apart from the messages of protocol/migrate.ts:
 * every app reads MIGRATE_DIR_ENV at start, and only one under a supervisor that migrates needs
 * the rest.
 */

/** The environment variable that names the migration directory to a child. */
export const MIGRATE_DIR_ENV = 'SOCKACT_MIGRATE_DIR';
/** The supervisor's list of serving workers, in the migration directory. */
export const SERVING_FILE = 'serving';

/** A worker of one generation: what SERVING_FILE lists and a receiving socket is named after. */
export interface MigrateWorker {
  generation: number;
  worker: number;
}

/** The name of a worker's receiving socket in the migration directory. */
export function receiverName(w: MigrateWorker): string {
  return `${w.generation}.${w.worker}.migrate`;
}

/** SERVING_FILE's text for these workers. */
export function formatServing(workers: readonly MigrateWorker[]): string {
  return workers.map((w) => `${w.generation}.${w.worker}\n`).join('');
}

/** The workers SERVING_FILE lists; a line that is not `<generation>.<worker>` is skipped. */
export function parseServing(text: string): MigrateWorker[] {
  const out: MigrateWorker[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\.(\d+)$/.exec(line);
    if (m) out.push({ generation: Number(m[1]), worker: Number(m[2]) });
  }
  return out;
}
