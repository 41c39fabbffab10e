// A UDP service on an inherited datagram socket: echoes every datagram back, upper-cased.
// getListeners() returns a bound dgram.Socket of the socket's own family (udp4 or udp6);
// started by hand, it binds $HOST:$PORT (default 127.0.0.1:5353) itself.
//   sockact -l 127.0.0.1:5353,dgram -- node examples/udp/server.js   # then: echo hi | nc -u -q1 127.0.0.1 5353
import dgram from 'node:dgram';
import { getListeners, notify, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong: print it and exit 1 instead of a stack trace.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`udp: ${err.message}`);
  process.exit(1);
};

const listeners = await getListeners().catch(fail);
const sockets = listeners.filter((l) => l.type === 'dgram').map((l) => l.socket);
for (const l of listeners)
  if (l.type !== 'dgram') console.error(`udp: ignoring fd ${l.fd} (${l.name}): not a datagram socket`);
if (listeners.length === 0) {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) =>
    socket.bind(Number(process.env.PORT ?? 5353), process.env.HOST ?? '127.0.0.1', resolve),
  );
  sockets.push(socket);
}
if (sockets.length === 0) fail(new SockactError('ERR_NO_DGRAM', 'none of the inherited fds is a datagram socket'));
for (const socket of sockets) {
  // A reply goes out through the same socket, so the peer sees it come from the address it asked.
  socket.on('message', (msg, peer) => socket.send(msg.toString().toUpperCase(), peer.port, peer.address));
  const a = socket.address();
  console.error(`udp: pid ${process.pid} echoing on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
}
try {
  notify.ready();
} catch (err) {
  fail(err);
}
// A datagram service has no connections to drain: close the sockets and go on SIGTERM.
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    notify.stopping();
    for (const s of sockets) s.close();
  });
}
