import { describe, expect, it } from 'vitest';
import { PYTHON, ROOT, run, SD_PEER } from '../_support/launcher.js';

describe("'sockact/launch' (the package's launch entry)", () => {
  it('binds and starts a program with its socket, as a user of the package imports it', async () => {
    // Imported by package name from the checkout, as an installed package resolves it (exports map).
    const script = `
import { bindAll, parseListen, spawnActivated } from 'sockact/launch';
const [s] = bindAll([parseListen('127.0.0.1:0,name=web')]);
const child = spawnActivated({ program: process.argv[1], args: [process.argv[2]], fds: [s.fd], names: ['web'] });
child.on('exit', (code) => process.exit(code ?? 1));
`;
    const r = run(process.execPath, ['--input-type=module', '-e', script, PYTHON, SD_PEER], { cwd: ROOT });
    expect((await r.exited).code).toBe(0);
    const peer = JSON.parse(r.stdout);
    expect(peer).toMatchObject({ n: 1, names: ['web'], env: {} });
    expect(peer.fds[0]).toMatchObject({ fd: 3, type: 'stream', family: 'inet', listening: true });
  });
});
