// The declarations name node:net, Buffer and NodeJS. TypeScript 6 and later no longer load @types/*
// unless tsconfig's "types" lists them, so this line (kept in the .d.ts by preserve) brings in
// @types/node for a consumer that imports this entry point.
/// <reference types="node" preserve="true" />
/**
 * sockact/launch: the launcher as a library (docs/protocol.md section 2), for programs that bind
 * sockets and start children with them the way the `sockact` command does. Linux only: every
 * call goes through the OS seam (koffi), loaded on first use.
 */
export { parseListen, type ListenAddress, type ListenSpec, type SocketOptions } from '../protocol/address.js';
export { formatSockAddr, type SockAddr, type SocketFamily, type SocketType } from '../protocol/sockaddr.js';
export { bindAll, bindSocket, closeSockets, removeOnExit, DEFAULT_BACKLOG, type BoundSocket } from './bind.js';
export {
  describeExit,
  spawnActivated,
  TRAMPOLINE,
  TRAMPOLINE_SHELL,
  type SpawnActivatedOptions,
  type StdioEntry,
} from './spawn.js';
export { runAccept, remoteEnv, DEFAULT_MAX_CONNECTIONS, type AcceptOptions, type AcceptServer } from './accept.js';
export { activationEnv, parseSetenv, STALE_VARIABLES, type ActivationEnvOptions } from './env.js';
export { inheritedSockets } from './inherited.js';
export { resolveProgram, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from './program.js';
export { forwardSignals, FORWARDED_SIGNALS } from './signals.js';
export { waitForActivity } from './wait.js';
export { SockactError, type ErrorCode, type SockactErrorCode, type SockactErrorFields } from '../protocol/errors.js';
export { serveHandoff, isDescendant, type Handoff, type HandoffOptions } from './handoff.js';
