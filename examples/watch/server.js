// A dev loop: sockact holds the port and, whenever a file under the watched path changes, starts
// a new copy of this server; the old copy serves until the new one is ready, so the browser never
// sees "connection refused" between two versions. A save that does not start (a syntax error)
// leaves the old copy serving until the next save.
//   sockact --watch examples/watch -l 127.0.0.1:8080 -- node examples/watch/server.js
// Then edit examples/watch/message.txt (or this file) and reload the page.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong: print it and exit 1 instead of a stack trace.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`watch: ${err.message}`);
  process.exit(1);
};

// Read once at start-up: a change shows up through the reload, not by re-reading.
const message = readFileSync(new URL('message.txt', import.meta.url), 'utf8').trim();
const server = http.createServer((_req, res) => res.end(`${message} (pid ${process.pid})\n`));
const { address } = await listen(server, { port: Number(process.env.PORT ?? 8080) }).catch(fail);
console.error(`watch: pid ${process.pid} serving on ${address}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(server, { timeout: 2000 });
