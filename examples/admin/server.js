// Two named sockets: the public "web" port and a private "admin" endpoint on a UNIX socket
// (mode 0660, so only its group reaches it). Each listen() call takes the fd with that name.
//   sockact -l 127.0.0.1:8080,name=web -l /run/x/admin.sock,name=admin,mode=0660 -- node examples/admin/server.js
//   curl localhost:8080            curl --unix-socket /run/x/admin.sock localhost/status
// Started by hand, it binds port $PORT (default 8080) and $ADMIN_SOCKET (default ./admin.sock).
import http from 'node:http';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong: print it and exit 1 instead of a stack trace.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`admin: ${err.message}`);
  process.exit(1);
};

const started = Date.now();
let served = 0;
const web = http.createServer((_req, res) => {
  served++;
  res.end(`hello from pid ${process.pid}\n`);
});
const admin = http.createServer((req, res) => {
  if (req.url !== '/status') {
    res.writeHead(404).end('try /status\n');
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(`${JSON.stringify({ pid: process.pid, uptimeMs: Date.now() - started, served })}\n`);
});

const w = await listen(web, { name: 'web', port: Number(process.env.PORT ?? 8080) }).catch(fail);
const a = await listen(admin, { name: 'admin', path: process.env.ADMIN_SOCKET ?? './admin.sock' }).catch(fail);
console.error(`admin: pid ${process.pid} serving web on ${w.address}, admin on ${a.address}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal([web, admin], { timeout: 5000 });
