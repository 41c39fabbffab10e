// `sockact status|reload|stop` whose stdout reader is gone: the request is carried out and the
// exit status says so; the lost answer is no crash (Node would raise EPIPE as an unhandled error).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { perTest, sockact } from '../_support/launcher.js';

const { defer, dir } = perTest();

describe('a subcommand whose stdout is a closed pipe', () => {
  it.each(['status', 'reload'])('%s: exit 0 and nothing on stderr', async (command) => {
    const control = join(dir(), 'c.sock');
    const server = sockact(['-l', '127.0.0.1:0', '--ready', '50ms', '--control', control, '--', 'sleep', '60']);
    defer(() => server.child.kill('SIGKILL'));
    await server.waitFor('stderr', /ready in/);
    const client = sockact([command, '--control', control]);
    // The reader goes away before the answer comes: the write meets EPIPE.
    client.child.stdout!.destroy();
    const { code } = await client.ended(`sockact ${command}`);
    expect([code, client.stderr]).toEqual([0, '']);
    server.child.kill('SIGTERM');
    await server.ended('SIGTERM');
  });
});
