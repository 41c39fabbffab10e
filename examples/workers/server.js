// A worker for a pool: run N copies on one listening socket with `sockact --workers N`. Every
// copy adopts the same inherited socket, and the kernel hands each connection to one of them,
// so a CPU-bound request in one worker does not hold up the others. Nothing here is
// pool-specific: a worker is the same program as a single server.
//   sockact --workers 4 -l 8080 -- node examples/workers/server.js   # then: curl 'localhost:8080/?n=30'
import http from 'node:http';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong: print it and exit 1 instead of a stack trace.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`workers: ${err.message}`);
  process.exit(1);
};

// Deliberately slow (naive Fibonacci): the work a pool spreads over several processes.
const fib = (n) => (n < 2 ? n : fib(n - 1) + fib(n - 2));

// sockact numbers its workers 0..N-1 (SOCKACT_WORKER); unset when run alone.
const worker = process.env.SOCKACT_WORKER ?? '0';
const server = http.createServer((req, res) => {
  const n = Math.min(Number(new URL(req.url, 'http://x').searchParams.get('n') ?? 20), 35);
  res.end(`fib(${n}) = ${fib(n)} from worker ${worker} (pid ${process.pid})\n`);
});
const { address } = await listen(server, { port: Number(process.env.PORT ?? 8080) }).catch(fail);
console.error(`workers: worker ${worker} (pid ${process.pid}) serving on ${address}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(server, { timeout: 5000 });
