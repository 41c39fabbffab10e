import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../_support/launcher.js';

describe("'sockact/protocol' (the package's protocol entry)", () => {
  it('holds the parsers and formatters, which the app entry no longer exports', async () => {
    // Imported by package name from the checkout, as an installed package resolves it (exports map).
    const script =
      `
import * as app from 'sockact';
import * as protocol from 'sockact/protocol';
console.log(JSON.stringify({
  app: ['parseListenEnv', 'formatNotify', 'parseNotifyMessage', 'isValidFdName', ` +
      `'LISTEN_FDS_START'].filter((k) => k in app),
  env: protocol.parseListenEnv({ LISTEN_PID: '7', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, 7),
  notify: protocol.formatNotify({ READY: 1, STATUS: 'up' }).toString(),
  parsed: [...protocol.parseNotifyMessage('READY=1\\nSTATUS=up')],
  start: protocol.LISTEN_FDS_START,
}));
`;
    const r = run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
    expect((await r.exited).code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      app: [],
      env: { activated: true, pid: 7, count: 2, names: ['a', 'b'] },
      notify: 'READY=1\nSTATUS=up',
      parsed: [
        ['READY', '1'],
        ['STATUS', 'up'],
      ],
      start: 3,
    });
  });

  it(
    'throws errors that are instanceof the SockactError of ' + "'sockact' and of 'sockact/launch' (each its own copy)",
    async () => {
      const script = `
import * as app from 'sockact';
import * as protocol from 'sockact/protocol';
import * as launch from 'sockact/launch';
let err;
try { protocol.parseListenEnv({ LISTEN_PID: '7', LISTEN_FDS: 'x' }, 7); } catch (e) { err = e; }
let usage;
try { launch.parseSetenv(['LISTEN_FDS=3'], {}); } catch (e) { usage = e; }
console.log(JSON.stringify({
  copies: app.SockactError !== launch.SockactError,
  code: err.code,
  app: err instanceof app.SockactError,
  launch: err instanceof launch.SockactError,
  back: usage instanceof app.SockactError && usage.code === 'ERR_USAGE',
  plain: new Error('x') instanceof app.SockactError,
}));
`;
      const r = run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
      expect((await r.exited).code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        copies: true,
        code: 'ERR_LISTEN_ENV',
        app: true,
        launch: true,
        back: true,
        plain: false,
      });
    },
  );
});
