/*
 * Public functions whose code is loaded on their first call: fd passing (app/fdpass.ts) is
 * most of what an app never uses, and the build puts what is reached by import() in a chunk of
 * its own (scripts/build.js), so `import 'sockact'` does not parse it. Each has the signature of
 * the function it loads; internal callers import app/fdpass.ts directly.
 */
type FdPass = typeof import('./fdpass.js');

/**
 * Send fds with their names and a small message to another process (SCM_RIGHTS) as one bundle:
 * to a UNIX socket path, or on a connected UNIX socket (a fd or a net.Socket). See docs/app.md.
 */
export const sendFds: FdPass['sendFds'] = async (...args) => (await import('./fdpass.js')).sendFds(...args);

/**
 * Receive one bundle sent by sendFds(): on a connected UNIX socket (a fd or a net.Socket Node has
 * not read from), or on a path bound for the first connection. Every fd arrives close-on-exec.
 */
export const receiveFds: FdPass['receiveFds'] = async (...args) => (await import('./fdpass.js')).receiveFds(...args);
