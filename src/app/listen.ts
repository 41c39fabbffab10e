import type net from 'node:net';
import { codeOf, quote, SockactError } from '../protocol/errors.js';
import { formatSockAddr } from '../protocol/sockaddr.js';
import { errorReason } from '../sys/errors.js';
import { ADOPTED_BACKLOG, adoptedBy, alreadyAdopted, claim, recordServed, untilListening } from './adopt.js';
import { describeFd, isStreamListener, listenFds, type ListenFd } from './listen-fds.js';
import { migrating } from './migration.js';

/** Anything with net.Server's listen(): net, http, https, http2 servers, express's and fastify's underlying server. */
type ListenableServer = Pick<net.Server, 'listen' | 'once' | 'off' | 'address' | 'listening'>;

export interface ListenOptions {
  /** Activated: take the inherited fd with this LISTEN_FDNAMES name (FileDescriptorName=). */
  name?: string;
  /** Not activated: the TCP port to bind (0 picks a free one). */
  port?: number;
  /** Not activated: the host for `port` (Node's default: every address). */
  host?: string;
  /**
   * Not activated: a UNIX socket path to bind instead of a port. '@name' binds an abstract name
   * through Node, which pads it with NULs to 108 bytes: clients that use the exact length
   * (systemd, socat, Python) do not reach it. Activated abstract sockets have no such problem.
   */
  path?: string;
  /**
   * listen(2) backlog. Node calls listen(2) again on an adopted fd: the default there is as large
   * as net.core.somaxconn allows (ADOPTED_BACKLOG), so adopting never shrinks the queue; for the
   * fallback it is Node's 511.
   */
  backlog?: number;
}

export interface ListenResult {
  /** Whether an inherited fd is being used (false: the fallback was bound). */
  activated: boolean;
  /** The inherited fd, when activated. */
  fd?: number;
  /** Its LISTEN_FDNAMES name, when activated. */
  name?: string;
  /** Where the server listens: 127.0.0.1:8080, [::]:8080, /run/app.sock, @name. */
  address: string;
}

/**
 * Inherit-or-bind in one call (tableflip's Fds.Listen, listenfd's take_tcp_listener + fallback).
 * Activated: adopt the first not-yet-adopted listening stream socket with that `name`, or the
 * first one at all without a name; a missing name or a fd of the wrong kind is an error, never a
 * silent fresh bind. Not activated: bind `path`, or `port` on `host`. Resolves once listening.
 */
export async function listen(server: ListenableServer, options: ListenOptions = {}): Promise<ListenResult> {
  if (server.listening)
    throw new SockactError('ERR_SERVER_LISTENING', `the server already listens on ${formatAddress(server)}`);
  const fds = listenFds();
  if (fds.length > 0) {
    const d = pick(fds, options.name);
    claim([d], 'listen()');
    // Under a supervisor that migrates, connections of older generations may arrive here. Loaded
    // before the server listens: once it serves, listen() resolves without another I/O turn.
    const migrate = migrating() ? await import('./migrate.js') : undefined;
    // The backlog must be an argument: listen({ fd, backlog }) ignores the option and uses 511.
    await listening(
      server,
      () => server.listen({ fd: d.fd }, options.backlog ?? ADOPTED_BACKLOG),
      `fd ${d.fd} (${quote(d.name)})`,
      d,
    );
    recordServed({ server, name: d.name });
    migrate?.offerMigration(server as net.Server);
    return { activated: true, fd: d.fd, name: d.name, address: d.address ?? formatAddress(server) };
  }
  let where: string;
  let bind: () => void;
  if (options.path !== undefined) {
    where = options.path;
    // systemd's '@name' notation for an abstract socket is Node's '\0name'.
    const path = options.path.startsWith('@') ? `\0${options.path.slice(1)}` : options.path;
    bind = () => server.listen({ path, backlog: options.backlog });
  } else if (options.port !== undefined) {
    where = options.host === undefined ? `port ${options.port}` : formatSockAddr(hostPort(options.host, options.port));
    bind = () => server.listen({ port: options.port, host: options.host, backlog: options.backlog });
  } else {
    throw new SockactError('ERR_NO_FALLBACK', 'not socket-activated and no fallback to bind: pass port or path', {
      expected: 'port or path',
    });
  }
  await listening(server, bind, where);
  // Named as the inherited socket would be, so a new copy started by upgrader() finds it by name.
  recordServed({ server, name: options.name ?? 'unknown' });
  return { activated: false, address: formatAddress(server) };
}

function pick(fds: readonly ListenFd[], name: string | undefined): ListenFd {
  const named = name === undefined ? fds : fds.filter((d) => d.name === name);
  if (named.length === 0) {
    const have = fds
      .map((d) => `fd ${d.fd} ${quote(d.name)}`)
      .slice(0, 8)
      .join(', ');
    throw new SockactError(
      'ERR_NO_FD',
      `no inherited fd is named ${quote(name)} (${have}${fds.length > 8 ? ', ...' : ''})`,
      {
        fdName: name,
        expected: `a fd named ${quote(name)}`,
      },
    );
  }
  const usable = named.filter(isStreamListener);
  if (usable.length === 0) {
    const d = named[0]!;
    const which =
      name === undefined
        ? `none of the ${fds.length} inherited fds is a listening stream socket: fd ${d.fd}`
        : `fd ${d.fd} (${quote(d.name)})`;
    throw new SockactError('ERR_FD_KIND', `${which} is ${describeFd(d)}, expected a listening stream socket`, {
      fd: d.fd,
      fdName: d.name,
      expected: 'a listening stream socket',
      actual: describeFd(d),
    });
  }
  const free = usable.find((d) => adoptedBy(d.fd) === undefined);
  if (!free) throw alreadyAdopted(usable[0]!);
  return free;
}

async function listening(server: ListenableServer, start: () => void, where: string, d?: ListenFd): Promise<void> {
  try {
    await untilListening(server, start);
  } catch (err) {
    const cause = err as NodeJS.ErrnoException;
    const fields = d ? { fd: d.fd, fdName: d.name, cause } : { value: where, cause };
    throw new SockactError(codeOf(cause, 'ERR_LISTEN'), `can't listen on ${where}: ${errorReason(cause)}`, fields);
  }
}

/** A host as given (a name, IPv4 or IPv6 text) and a port, in the form formatSockAddr prints. */
function hostPort(address: string, port: number) {
  return address.includes(':')
    ? { family: 'inet6' as const, address, port }
    : { family: 'inet' as const, address, port };
}

function formatAddress(server: ListenableServer): string {
  const a = server.address();
  if (a === null) return '(not listening)';
  if (typeof a === 'string') return formatSockAddr({ family: 'unix', path: a.startsWith('\0') ? `@${a.slice(1)}` : a });
  return formatSockAddr(hostPort(a.address, a.port));
}
