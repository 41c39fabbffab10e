// Express on an inherited socket (`npm install express`: a devDependency of sockact's, for its tests only).
// Express apps are request handlers: give one to http.createServer and listen() the server.
//   systemd-socket-activate -l 8080 node examples/express/server.js
import http from 'node:http';
import express from 'express';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong (LISTEN_FDS is not a number: 'abc'):
// print it and exit 1 instead of a stack trace. Anything else is a bug: let it crash.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`express: ${err.message}`);
  process.exit(1);
};

const app = express();
app.get('/', (_req, res) => res.send(`hello from express, pid ${process.pid}\n`));
const server = http.createServer(app);
const { address } = await listen(server, { port: Number(process.env.PORT ?? 8080) }).catch(fail);
console.error(`express: listening on ${address}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(server, { timeout: 5000 });
