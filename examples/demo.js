#!/usr/bin/env node
// `npm start`: sockact binds a port and starts examples/hello/server.js with it at fd 3.
// The app adopts the socket with sockact's listen(); the demo then says where to point curl.
// PORT (default 8080) picks the port; PORT=0 takes any free one. Ctrl-C stops both.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import http from 'node:http';

const here = dirname(fileURLToPath(import.meta.url));
const port = process.env.PORT ?? '8080';
const args = [join(here, '..', 'bin', 'sockact.js'), '-l', `127.0.0.1:${port}`, '--', process.execPath, join(here, 'hello', 'server.js')];
console.log(`demo: running sockact ${args.slice(1).join(' ')}`);
const child = spawn(process.execPath, args, { stdio: ['inherit', 'inherit', 'pipe'] });

let seen = '';
child.stderr.on('data', (chunk) => {
  process.stderr.write(chunk);
  if (seen === null) return;
  seen += chunk;
  const m = /listening on (\S+)/.exec(seen);
  if (!m) return;
  seen = null;
  const url = `http://${m[1]}/`;
  // The socket is already listening, so this request waits in the backlog until the app takes it.
  http.get(url, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      console.log(`demo: ${url} answered ${res.statusCode}: ${body.trim()}`);
      console.log(`demo: point a browser or curl at ${url} - Ctrl-C to stop`);
    });
  }).on('error', (err) => console.error(`demo: ${url} failed: ${err.message}`));
});

// sockact forwards signals itself; Ctrl-C reaches it through the terminal.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
