// The declarations name node:net, Buffer and NodeJS. TypeScript 6 and later no longer load @types/*
// unless tsconfig's "types" lists them, so this line (kept in the .d.ts by preserve) brings in
// @types/node for a consumer that imports this entry point.
/// <reference types="node" preserve="true" />
/**
 * sockact/protocol: the pure parsers and formatters of socket activation and sd_notify
 * (docs/protocol.md sections 1 and 3), for programs that speak the protocol themselves: a notify
 * receiver, a launcher, their tests. No OS access and no koffi. Errors are SockactError:
 * `instanceof` holds against the class of any entry (docs/errors.md).
 */
export { LISTEN_ENV_VARS, LISTEN_FDS_START, parseListenEnv, UNKNOWN_FD_NAME, type ListenEnv } from './listen-env.js';
export {
  BARRIER,
  FDSTORE,
  FDSTOREREMOVE,
  formatNotify,
  NOTIFY_MAX_BYTES,
  parseNotifyMessage,
  parseNotifySocket,
  READY,
  RELOADING,
  STOPPING,
  WATCHDOG,
  WATCHDOG_TRIGGER,
  type NotifyFields,
} from './notify.js';
export { FDNAME_MAX, isValidFdName } from './fdname.js';
export { parseWatchdogEnv } from './watchdog-env.js';
export { formatSockAddr, type SockAddr, type SocketFamily, type SocketType } from './sockaddr.js';
export { SockactError, type ErrorCode, type SockactErrorCode, type SockactErrorFields } from './errors.js';
