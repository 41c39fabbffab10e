import type { ListenFd } from '../app/listen-fds.js';
import { sendNotify } from '../app/notify-send.js';
import type { ListenSpec } from '../protocol/address.js';
import { FDNAME_MAX } from '../protocol/fdname.js';
import { FDSTORE, FDSTOREREMOVE } from '../protocol/notify.js';
import { formatSockAddr, ipv6Bytes } from '../protocol/sockaddr.js';
import { errorReason } from '../sys/errors.js';
import { closeFd } from '../sys/fd.js';
import { bindSocket, closeSockets, type BoundSocket } from './bind.js';

/*
 * systemd's fd store for sockact's own sockets (sd_notify(3) FDSTORE=1, systemd.service(5)
 * FileDescriptorStoreMax=, docs/protocol.md 21): each socket sockact binds is also handed to
 * systemd, which keeps it while the service restarts and passes it back through LISTEN_FDS, after
 * the fds of the service's .socket units, named by the FDNAME= it was stored with. A restarted
 * sockact takes it back instead of binding: nothing is refused while it is down, connections
 * wait in the backlog of the socket systemd holds.
 */

/**
 * Every name sockact stores a socket under starts with this. It tells a stored socket from one a
 * .socket unit passes, named by FileDescriptorName= or else after its unit: a unit name has no '/'.
 */
export const STORE_PREFIX = 'sockact/';

/**
 * The FDNAME= a -l socket is stored under: STORE_PREFIX and the -l name, or, without one, the
 * address as given (port 0 stays 0, so the name is the same on every start) with ':' and what is
 * not printable ASCII percent-encoded, as an fd name may hold neither (systemd's fdname_is_valid).
 */
export function storeName(spec: ListenSpec): string {
  if (spec.name !== undefined) return `${STORE_PREFIX}${spec.name}`.slice(0, FDNAME_MAX);
  const text = `${spec.type === 'stream' ? '' : `${spec.type}-`}${formatSockAddr(spec.address)}`;
  const safe = [...text]
    .map((ch) =>
      /^[\x20-\x7e]$/.test(ch) && ch !== ':' && ch !== '%' ? ch : encodeURIComponent(ch).replace(/:/g, '%3A'),
    )
    .join('');
  return `${STORE_PREFIX}${safe}`.slice(0, FDNAME_MAX);
}

/** Whether the inherited fd is a socket of the -l's type bound to its address (port 0: any port). */
function sameSocket(spec: ListenSpec, d: ListenFd): boolean {
  if (d.kind !== 'socket' || d.type !== spec.type || d.local === undefined) return false;
  if (spec.type !== 'dgram' && !d.listening) return false;
  const a = spec.address;
  const l = d.local;
  if (a.family === 'unix' || l.family === 'unix')
    return a.family === 'unix' && l.family === 'unix' && l.path === a.path;
  if (a.port !== 0 && l.port !== a.port) return false;
  if (a.family === 'inet') return l.family === 'inet' && l.address === a.address;
  // `PORT` alone falls back to 0.0.0.0 on a host without IPv6 (launch/bind.ts).
  if (a.wildcard && l.family === 'inet') return l.address === '0.0.0.0';
  return l.family === 'inet6' && ipv6Bytes(a.address).equals(ipv6Bytes(l.address));
}

/** A stored socket taken back for a -l, with the name it was stored under. */
export interface Taken extends BoundSocket {
  storedAs: string;
}

export interface FromStore {
  /** Per -l, by index: the stored socket taken back for it, or undefined (it is bound). */
  taken: (Taken | undefined)[];
  /** Inherited fds that are not from sockact's store (a .socket unit's): passed on as before. */
  passOn: ListenFd[];
  /** Stored sockets that no -l asks for any more. */
  stale: ListenFd[];
}

/**
 * Sort the inherited fds: those named STORE_PREFIX... are sockact's stored sockets, each taken
 * back by the -l whose type and address it has (names are not unique: a name alone never
 * decides, it only picks among sockets on the same address; a -l on port 0 takes back only a
 * socket stored under its own name); stored sockets no -l takes are stale. Every other fd is passed on.
 */
export function takeFromStore(inherited: readonly ListenFd[], specs: readonly ListenSpec[]): FromStore {
  const stored = inherited.filter((d) => d.name.startsWith(STORE_PREFIX));
  const taken: (Taken | undefined)[] = specs.map(() => undefined);
  const used = new Set<ListenFd>();
  for (const byName of [true, false]) {
    specs.forEach((spec, i) => {
      if (taken[i] || (!byName && spec.address.family !== 'unix' && spec.address.port === 0)) return;
      const d = stored.find((s) => !used.has(s) && sameSocket(spec, s) && (!byName || s.name === storeName(spec)));
      if (!d) return;
      used.add(d);
      const t: Taken = { fd: d.fd, spec, local: d.local!, label: d.address!, storedAs: d.name };
      if (d.local!.family === 'unix' && !d.abstract) t.path = d.local!.path;
      taken[i] = t;
    });
  }
  return {
    taken,
    passOn: inherited.filter((d) => !d.name.startsWith(STORE_PREFIX)),
    stale: stored.filter((d) => !used.has(d)),
  };
}

/** bindAll() with the sockets taken back from the store in their places: only the others are bound. */
export function bindOrTake(specs: readonly ListenSpec[], taken: readonly (Taken | undefined)[]): BoundSocket[] {
  const made: BoundSocket[] = [];
  try {
    return specs.map((spec, i) => {
      const t = taken[i];
      if (t) return t;
      const b = bindSocket(spec);
      made.push(b);
      return b;
    });
  } catch (err) {
    closeSockets(made);
    throw err;
  }
}

/**
 * Bring the store up to date: stale entries (and entries taken back under another name) are
 * removed with FDSTOREREMOVE=1, which drops every fd of that name, and closed here; then each
 * socket the store lacks is stored (`store`: the store is in use) with FDSTORE=1 and its name. A
 * socket marked remove-on-exit is not stored: its file goes when sockact exits. Never fatal:
 * a failure (no NOTIFY_SOCKET, NotifyAccess= refusing) is one warning, and sockact serves on.
 */
export function updateStore(
  from: FromStore,
  bound: readonly BoundSocket[],
  store: boolean,
  log: (line: string) => void,
  warn: (line: string) => void,
): void {
  let failed = false;
  const notify = (message: string, fds: number[] = []): void => {
    if (failed) return;
    try {
      if (!sendNotify(message, { fds })) {
        failed = true;
        if (store)
          warn(
            '--fd-store: NOTIFY_SOCKET is not set, so there is no fd store: the sockets are not kept across restarts',
          );
      }
    } catch (err) {
      failed = true;
      warn(`can't use the fd store: ${errorReason(err)}`);
    }
  };
  const remove = new Set(from.stale.map((d) => d.name));
  from.taken.forEach((t, i) => {
    if (t && t.storedAs !== storeName(bound[i]!.spec)) remove.add(t.storedAs);
  });
  for (const name of remove) notify(`${FDSTOREREMOVE}\nFDNAME=${name}`);
  for (const d of from.stale) {
    log(`dropped ${d.address ?? `fd ${d.fd}`} (${d.name}) from the fd store: no -l asks for it any more`);
    closeFd(d.fd);
  }
  if (!store) return;
  bound.forEach((b, i) => {
    const t = from.taken[i];
    if (t && !remove.has(t.storedAs)) return; // still stored, under its own name
    if (b.spec.removeOnExit && b.path !== undefined) return;
    notify(`${FDSTORE}\nFDNAME=${storeName(b.spec)}`, [b.fd]);
  });
}
