// One HTTP GET for the tests: over TCP, a UNIX path, or an abstract name (through Python, which
// uses the name's exact length as systemd does; Node pads sun_path).
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { PYTHON, ROOT } from './launcher.js';

const ABSTRACT_GET = join(ROOT, 'test/_support/http-get-abstract.py');

export type HttpTarget = { host: string; port: number } | { socketPath: string } | { abstract: string };

export interface GetOptions {
  path?: string;
  /** false (the default): a new connection closed after the answer; or a keep-alive agent. */
  agent?: http.Agent | false;
  headers?: http.OutgoingHttpHeaders;
  /** No complete answer within this many ms is an error naming the target (default 10 s). */
  timeout?: number;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The connection it came on (TCP and UNIX path only). */
  socket?: Socket;
}

function describe(target: HttpTarget, path: string): string {
  if ('abstract' in target) return `GET ${path} on ${target.abstract}`;
  if ('socketPath' in target) return `GET ${path} on ${target.socketPath}`;
  return `GET http://${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}${path}`;
}

/** GET `path` (default /) and the whole answer. A connection error rejects with the error itself (its code kept). */
export function httpGet(
  target: HttpTarget,
  { path = '/', agent = false, headers, timeout = 10_000 }: GetOptions = {},
): Promise<Answer> {
  const what = describe(target, path);
  if ('abstract' in target) return abstractGet(target.abstract, what, timeout);
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, path, agent, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, socket: req.socket! }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(timeout, () => req.destroy(new Error(`${what}: no answer within ${timeout} ms`)));
  });
}

function abstractGet(name: string, what: string, timeout: number): Promise<Answer> {
  if (!name.startsWith('@')) throw new Error(`not an abstract name (no leading @): ${name}`);
  return new Promise((resolve, reject) => {
    execFile(PYTHON, [ABSTRACT_GET, name.slice(1)], { encoding: 'latin1', timeout }, (err, stdout, stderr) => {
      if (err)
        return reject(
          new Error(`${what}: ${err.killed ? `no answer within ${timeout} ms` : stderr.trim() || err.message}`),
        );
      const split = stdout.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = stdout.slice(0, split).split('\r\n');
      const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1]);
      if (split < 0 || !status)
        return reject(new Error(`${what}: not an HTTP answer: ${JSON.stringify(stdout.slice(0, 200))}`));
      const headers: http.IncomingHttpHeaders = {};
      for (const l of lines) {
        const colon = l.indexOf(':');
        headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
      }
      resolve({ status, headers, body: Buffer.from(stdout.slice(split + 4), 'latin1').toString('utf8') });
    });
  });
}
