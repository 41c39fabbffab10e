// The declarations name node:net, Buffer and NodeJS. TypeScript 6 and later no longer load @types/*
// unless tsconfig's "types" lists them, so this line (kept in the .d.ts by preserve) brings in
// @types/node for a consumer that imports this entry point.
/// <reference types="node" preserve="true" />
/**
 * sockact, the app side: what a socket-activated program imports. Nothing here loads koffi until
 * an inherited fd or NOTIFY_SOCKET is actually used, so an app that was not activated runs
 * unchanged on any platform (listen() binds its fallback). The protocol's parsers and formatters
 * are in 'sockact/protocol', the launcher in 'sockact/launch'.
 */
export { listenFds, isActivated, describeFd, type ListenFd, type ListenFdsOptions } from './app/listen-fds.js';
export { getListeners, type Listener, type GetListenersOptions } from './app/listeners.js';
export { listen, type ListenOptions, type ListenResult } from './app/listen.js';
export { notify, monotonicUsec, type NotifyOptions, type ReadyOptions, type FdStoreOptions } from './app/notify.js';
export { watchdogEnabled, startWatchdog, stopWatchdog } from './app/watchdog.js';
export {
  shutdown,
  shutdownOnSignal,
  trackConnections,
  type ShutdownOptions,
  type ShutdownResult,
  type ShutdownOnSignalOptions,
} from './app/shutdown.js';
export { sendFds, receiveFds } from './app/lazy.js';
export type { FdBundle, FdPassEndpoint, SendFdsOptions, ReceiveFdsOptions } from './app/fdpass.js';
export { migration, isMigrated, type Migration } from './app/migration.js';
export { upgrader, type Upgrader, type UpgraderOptions, type UpgradeResult } from './app/upgrade.js';
export { SockactError, type ErrorCode, type SockactErrorCode, type SockactErrorFields } from './protocol/errors.js';
export type { NotifyFields } from './protocol/notify.js';
export type { SockAddr, SocketFamily, SocketType } from './protocol/sockaddr.js';
export type { AccessMode, FileKind } from './sys/fd.js';
