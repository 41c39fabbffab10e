// Fastify on an inherited socket (needs `npm install fastify`; not a dependency of sockact).
// Let fastify finish its plugins with ready(), then listen() its underlying http.Server.
//   systemd-socket-activate -l 8080 node examples/fastify/server.js
import Fastify from 'fastify';
import { listen, notify, shutdownOnSignal } from 'sockact';

const app = Fastify();
app.get('/', async () => `hello from fastify, pid ${process.pid}\n`);
await app.ready();
const { address } = await listen(app.server, { port: Number(process.env.PORT ?? 8080) });
console.error(`fastify: listening on ${address}`);
notify.ready();
shutdownOnSignal(app.server, { timeout: 5000 });
