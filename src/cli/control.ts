import { writeSync } from 'node:fs';
import { formatDuration } from '../protocol/duration.js';
import { controlDir, controlPathFor, liveControls, sendControl, type ControlCommand } from '../supervise/control.js';
import type { StatusReport } from '../supervise/supervisor.js';
import { SockactError } from '../protocol/errors.js';
import { parseControlOptions } from './parse.js';

const USAGE = 'sockact status|reload|stop [--control PATH | --name NAME]';

/** Where the command goes: --control PATH, --name NAME, or the one sockact running in the default directory. */
async function target(argv: readonly string[], say: (line: string) => void): Promise<string | undefined> {
  let control: string | undefined;
  let name: string | undefined;
  try {
    ({ control, name } = parseControlOptions(argv));
  } catch (err) {
    if (!(err instanceof SockactError) || err.code !== 'ERR_USAGE') throw err;
    say(`${err.message}: ${USAGE}`);
    return undefined;
  }
  if (control !== undefined) return control;
  if (name !== undefined) return controlPathFor(name);
  const live = await liveControls();
  if (live.length === 1) return controlPathFor(live[0]!);
  if (live.length === 0) say(`no sockact is running with a control socket in ${controlDir()} (give --control PATH)`);
  else say(`${live.length} sockact are running (${live.join(', ')}): give --name NAME`);
  return undefined;
}

function formatStatus(s: StatusReport & { line?: string; sockets?: number }): string {
  const lines = [
    `sockact pid ${s.pid}, ${s.phase}, up ${formatDuration(s.uptimeMs)}: ${s.line ?? ''}`,
    `generation ${s.generation}, ${s.reloads} reload${s.reloads === 1 ? '' : 's'} ` +
      `(${s.failedReloads} failed), ${s.restarts} restart${s.restarts === 1 ? '' : 's'}` +
      `${s.reloading ? ', reloading now' : ''}, ${s.sockets ?? '?'} socket${s.sockets === 1 ? '' : 's'}`,
  ];
  for (const w of s.workers) {
    const ready = w.readyInMs !== undefined ? `, ready in ${formatDuration(w.readyInMs)}` : '';
    const status = w.status ? `: ${w.status}` : '';
    lines.push(
      `  worker ${w.index}  pid ${w.pid ?? '?'}  generation ${w.generation}  ${w.state} (${w.role})  ` +
        `up ${formatDuration(w.uptimeMs)}${ready}${status}`,
    );
  }
  return lines.join('\n');
}

/**
 * The answer on stdout. A reader that is gone (`sockact status | head -0`) costs the answer, not
 * the exit status: the request was carried out either way. writeSync, not process.stdout, whose
 * EPIPE would come later as an unhandled 'error' event and end the command with a stack trace.
 */
function print(text: string): void {
  try {
    writeSync(1, text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EAGAIN') return void process.stdout.on('error', () => {}).write(text); // a non-blocking pipe, full
    if (code !== 'EPIPE') throw err;
  }
}

/** `sockact status|reload|stop`: talk to a running sockact. Returns the exit status. */
export async function controlMain(
  command: string,
  argv: readonly string[],
  say: (line: string) => void,
): Promise<number> {
  const path = await target(argv, say);
  if (path === undefined) return 2;
  let answer;
  try {
    answer = await sendControl(path, command as ControlCommand);
  } catch (err) {
    say((err as Error).message);
    return 1;
  }
  if (command === 'status' && answer.ok) {
    print(`${formatStatus(answer.status as StatusReport)}\n`);
    return 0;
  }
  if (answer.ok) print(`${answer.message ?? 'done'}\n`);
  else say(answer.message ?? 'failed');
  return answer.ok ? 0 : 1;
}
