import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { MIGRATE_DIR_ENV } from '../protocol/migrate-dir.js';

/*
 * What every process has of connection migration: the public `migration` and isMigrated(), and
 * whether this process runs under a supervisor that migrates. The hand-over itself (the
 * receiving socket, the batches) is app/migrate.ts, loaded only then.
 */

/** This process's place under a supervisor that migrates connections; undefined when there is none. */
export function migrationIdentity(): { dir: string; generation: number; worker: number } | undefined {
  const dir = process.env[MIGRATE_DIR_ENV];
  const generation = Number(process.env.SOCKACT_GENERATION);
  const worker = Number(process.env.SOCKACT_WORKER ?? '0');
  if (!dir || !Number.isSafeInteger(generation) || !Number.isSafeInteger(worker)) return undefined;
  return { dir, generation, worker };
}

/** Whether a supervisor migrates this process's connections: the only case app/migrate.ts is loaded for. */
export function migrating(): boolean {
  return migrationIdentity() !== undefined;
}

/**
 * Both generations inherit the same listening socket, so they name it alike: the family,
 * address and port of server.address() (or the UNIX path).
 */
export function addressKey(server: net.Server): string | undefined {
  const a = server.address();
  if (a === null) return undefined;
  if (typeof a === 'string') return `unix:${a}`;
  return `${a.family}:${a.address}:${a.port}`;
}

/** Connections that came from an older generation rather than from accept() (app/migrate.ts adds them). */
export const migratedSockets = new WeakSet<net.Socket>();

/** Whether `socket` came from an older generation rather than from accept(). */
export function isMigrated(socket: net.Socket): boolean {
  return migratedSockets.has(socket);
}

/** The app's side of migration for connections that are not idle HTTP/1 (see register()). */
export class Migration extends EventEmitter {
  readonly registered = new Map<net.Socket, { server: net.Server; state: () => Buffer | string }>();

  /**
   * Opt a connection of `server` in (a WebSocket, a raw TCP protocol): when this process drains
   * and a newer generation takes connections, `state()` is called, the socket stops being read,
   * and its fd goes to the new generation with the state, where `migration.on('connection',
   * (socket, state, server) => ...)` receives it. Call it only at a point where nothing read
   * from the socket is still unprocessed (Node must not hold bytes of it). Without a newer
   * generation, or one with no 'connection' listener, nothing happens and the socket is the
   * app's to close, as before.
   */
  register(socket: net.Socket, server: net.Server, state: () => Buffer | string = () => Buffer.alloc(0)): void {
    this.registered.set(socket, { server, state });
    socket.once('close', () => this.registered.delete(socket));
  }

  unregister(socket: net.Socket): void {
    this.registered.delete(socket);
  }

  /**
   * 'connection': a connection an older generation registered arrived, with its state blob and
   * the server it belongs to.
   */
  override on(event: 'connection', listener: (socket: net.Socket, state: Buffer, server: net.Server) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }
}

/** Opt-in migration of connections that are not HTTP/1 (register(), 'connection'). */
export const migration = new Migration();
