// One SockactError for a consumer, whichever entry point threw it: 'sockact' (a bundle) and
// 'sockact/protocol' (unbundled files) each carry their own copy of the class's code, so a plain
// class would make `instanceof` false across them. Run from the packed tarball, as a user imports it.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { perTest } from '../_support/launcher.js';
import { packOnce, unpackInto } from '../_support/pack.js';

const { dir } = perTest();

let tarball = '';
beforeAll(() => {
  tarball = packOnce().tarball;
});

// An error from each side, each checked against the other side's class. LISTEN_FDS=abc for this
// very pid is a protocol error that parseListenEnv() (protocol) and listenFds() (app) both throw.
const CONSUMER = `
import * as app from 'sockact';
import * as protocol from 'sockact/protocol';
const thrown = (f) => { try { f(); } catch (err) { return err; } return undefined; };
const env = { LISTEN_PID: String(process.pid), LISTEN_FDS: 'abc' };
const fromProtocol = thrown(() => protocol.parseListenEnv(env, process.pid));
Object.assign(process.env, env);
const fromApp = thrown(() => app.listenFds());
console.log(JSON.stringify({
  codes: [fromProtocol?.code, fromApp?.code],
  protocolErrorIsAppClass: fromProtocol instanceof app.SockactError,
  appErrorIsProtocolClass: typeof protocol.SockactError === 'function' && fromApp instanceof protocol.SockactError,
}));
`;

describe('SockactError across entry points, from the packed tarball', () => {
  it("an error from 'sockact/protocol' is instanceof the SockactError of 'sockact', and the other way round", () => {
    const d = dir();
    unpackInto(tarball, d);
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', CONSUMER], { cwd: d, encoding: 'utf8' });
    // SockactError is branded (Symbol.for), so instanceof holds whichever bundle made the error:
    // with a plain class each entry point's copy would make both checks false.
    expect(JSON.parse(out)).toEqual({
      codes: ['ERR_LISTEN_ENV', 'ERR_LISTEN_ENV'],
      protocolErrorIsAppClass: true,
      appErrorIsProtocolClass: true,
    });
  });
});
