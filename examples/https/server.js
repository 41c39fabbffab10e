// HTTPS on an inherited socket, or on $PORT (default 8443) when started by hand.
// Key and certificate come from TLS_KEY and TLS_CERT (paths); without them a throwaway
// self-signed pair for "localhost" is made with openssl, so the example runs as is.
//   systemd-socket-activate -l 8443 node examples/https/server.js
//   curl -k https://localhost:8443
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { listen, notify, shutdownOnSignal, SockactError } from 'sockact';

// sockact's errors are one line naming what is wrong (LISTEN_FDS is not a number: 'abc'):
// print it and exit 1 instead of a stack trace. Anything else is a bug: let it crash.
const fail = (err) => {
  if (!(err instanceof SockactError)) throw err;
  console.error(`https: ${err.message}`);
  process.exit(1);
};

function keyAndCert() {
  if (process.env.TLS_KEY && process.env.TLS_CERT) {
    return { key: readFileSync(process.env.TLS_KEY), cert: readFileSync(process.env.TLS_CERT) };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'sockact-https-'));
  const [key, cert] = [path.join(dir, 'key.pem'), path.join(dir, 'cert.pem')];
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    {
      stdio: 'ignore',
    },
  );
  const pair = { key: readFileSync(key), cert: readFileSync(cert) };
  rmSync(dir, { recursive: true });
  return pair;
}

const server = https.createServer(keyAndCert(), (_req, res) => res.end(`hello over TLS from pid ${process.pid}\n`));
const { activated, address } = await listen(server, { port: Number(process.env.PORT ?? 8443) }).catch(fail);
console.error(`https: listening on ${address}${activated ? ' (socket-activated)' : ''}`);
try {
  notify.ready();
} catch (err) {
  fail(err);
}
shutdownOnSignal(server, { timeout: 5000 });
