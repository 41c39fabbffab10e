import { describe, expect, it } from 'vitest';
import { ROOT, run } from '../_support/launcher.js';

describe("'sockact/protocol' (the package's protocol entry)", () => {
  it('holds the parsers and formatters, which the app entry no longer exports', async () => {
    // Imported by package name from the checkout, as an installed package resolves it (exports map).
    const script = `
import * as app from 'sockact';
import * as protocol from 'sockact/protocol';
console.log(JSON.stringify({
  app: ['parseListenEnv', 'formatNotify', 'parseNotifyMessage', 'isValidFdName', 'LISTEN_FDS_START'].filter((k) => k in app),
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
});
