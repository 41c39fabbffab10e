// Express on an inherited socket (needs `npm install express`; not a dependency of sockact).
// Express apps are request handlers: give one to http.createServer and listen() the server.
//   systemd-socket-activate -l 8080 node examples/express/server.js
import http from 'node:http';
import express from 'express';
import { listen, notify, shutdownOnSignal } from 'sockact';

const app = express();
app.get('/', (req, res) => res.send(`hello from express, pid ${process.pid}\n`));
const server = http.createServer(app);
const { address } = await listen(server, { port: Number(process.env.PORT ?? 8080) });
console.error(`express: listening on ${address}`);
notify.ready();
shutdownOnSignal(server, { timeout: 5000 });
