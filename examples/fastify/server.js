// Fastify on an inherited socket (`npm install fastify`: a devDependency of sockact's, for its tests only).
// Let fastify finish its plugins with ready(), then listen() its underlying http.Server.
//   systemd-socket-activate -l 8080 node examples/fastify/server.js
import Fastify from 'fastify';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong (LISTEN_FDS is not a number: 'abc'):
// print it and exit 1 instead of a stack trace. Anything else is a bug: let it crash.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`fastify: ${err.message}`);
  process.exit(1);
};

const app = Fastify();
app.get('/', async () => `hello from fastify, pid ${process.pid}\n`);
await app.ready();
const { address } = await listen(app.server, { port: Number(process.env.PORT ?? 8080) }).catch(fail);
console.error(`fastify: listening on ${address}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(app.server, { timeout: 5000 });
