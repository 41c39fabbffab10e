// The smallest socket-activated app: answers "hello from pid N" on every inherited listening
// socket, or on $HOST:$PORT (default every address, port 8080) when started by hand.
//   systemd-socket-activate -l 8080 node examples/hello/server.js   # then: curl localhost:8080
import http from 'node:http';
import { getListeners, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong (LISTEN_FDS is not a number: 'abc'):
// print it and exit 1 instead of a stack trace. Anything else is a bug: let it crash.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`hello: ${err.message}`);
  process.exit(1);
};

const hello = (_req, res) => res.end(`hello from pid ${process.pid}\n`);
const listeners = await getListeners({ createServer: () => http.createServer(hello) }).catch(fail);
const servers = [];
for (const l of listeners) {
  if (l.type === 'server') {
    servers.push(l.server);
    console.error(`hello: pid ${process.pid} serving fd ${l.fd} (${l.name}) on ${l.descriptor.address}`);
  }
  // Accept=yes (systemd-socket-activate -a): one connection per process, served once.
  else if (l.type === 'connection') http.createServer(hello).emit('connection', l.socket);
  else console.error(`hello: ignoring fd ${l.fd} (${l.name}): ${l.type === 'unsupported' ? l.reason : `a ${l.type}`}`);
}
if (listeners.length === 0) {
  const server = http.createServer(hello);
  await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 8080), process.env.HOST, resolve));
  servers.push(server);
  const a = server.address();
  console.error(
    `hello: pid ${process.pid} listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
  );
}
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(servers, { timeout: 5000 });
