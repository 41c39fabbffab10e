// HTTP/2 without TLS (h2c) on an inherited socket, or on $PORT (default 8080) when started by hand.
//   systemd-socket-activate -l 8080 node examples/http2/server.js
//   curl --http2-prior-knowledge localhost:8080
import http2 from 'node:http2';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong (LISTEN_FDS is not a number: 'abc'):
// print it and exit 1 instead of a stack trace. Anything else is a bug: let it crash.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`http2: ${err.message}`);
  process.exit(1);
};

const server = http2.createServer((_req, res) => res.end(`hello over HTTP/2 from pid ${process.pid}\n`));
const { activated, address } = await listen(server, { port: Number(process.env.PORT ?? 8080) }).catch(fail);
console.error(`http2: listening on ${address}${activated ? ' (socket-activated)' : ''}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
// Sessions are tracked from now on, so a stop sends GOAWAY and lets open streams finish.
shutdownOnSignal(server, { timeout: 5000 });
