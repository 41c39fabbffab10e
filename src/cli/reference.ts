import { ALL_OPTIONS, EPILOGUE, EXAMPLES, optionsOf, rangeText, type OptionDef } from './options.js';
import { UNIT_EPILOGUE } from './unit.js';

/*
 * docs/cli.md, generated from the option table (cli/options.ts) by `npm run docs:cli`; a test
 * (test/cli/reference.test.ts) fails when the committed file differs from what this writes.
 * Pure text: the same table gives --help, the parser's checks and `sockact unit`'s mapping.
 */

/** A table cell: pipes escaped (GitHub's rule, inside code spans too), no HTML tags, no line breaks. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('\n', ' ');
}

/** `-l, --listen ADDR`, `--restart POLICY`. */
function synopsis(o: OptionDef): string {
  const short = o.alias?.filter((a) => a.length === 1).map((a) => `-${a}`) ?? [];
  const long = [o.name, ...(o.alias?.filter((a) => a.length > 1) ?? [])].map((n) => `--${n}`);
  const arg = o.arg ? ` ${o.arg}` : '';
  return [...short, ...long].map((w) => `\`${w}${arg}\``).join(', ');
}

/** What values the option takes: its choices, its range, what 0 and infinity mean. */
function values(o: OptionDef): string {
  if (o.kind === 'flag') return 'flag';
  const repeat = o.kind === 'repeatable' ? 'repeatable' : '';
  const parts: string[] = [];
  if (o.type === 'choice') parts.push(o.choices!.join(', '));
  const range = rangeText(o);
  if (o.type === 'readiness') parts.push('auto, notify or a time span');
  else if (o.type === 'duration') parts.push('a time span');
  if (range) parts.push(range);
  if (o.type === 'signal') parts.push('a signal name (SIGTERM, TERM), not SIGKILL or SIGSTOP');
  if (o.type === 'mode') parts.push('an octal mode');
  if (repeat) parts.push(repeat);
  return parts.join('; ');
}

/** What `sockact unit` makes of a launch option (its last column). */
function inUnit(o: OptionDef): string {
  const u = o.unit;
  if (!o.commands.includes('unit')) {
    if (optionsOf('unit').some((x) => x.name === o.name)) return `\`sockact unit\`'s own --${o.name} (below)`;
    return `refused: ${u?.refused ?? 'not an option of sockact unit'}`;
  }
  if (u?.directRefused) return u.passed ? '--shape sockact only' : `--shape direct: refused (${u.directRefused})`;
  const direct = u?.directive ? `\`${u.directive}=\`${u.section === 'Unit' ? ' in [Unit]' : ''}` : u?.says;
  if (direct === undefined) return 'yes (see the notes on units)';
  return `--shape direct: ${direct}${u?.passed ? '; --shape sockact: passed on' : ''}`;
}

function optionTable(rows: readonly OptionDef[], unitColumn: boolean): string[] {
  const head = ['Option', 'Values', 'Default', 'What it does', ...(unitColumn ? ['In `sockact unit`'] : [])];
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const o of rows) {
    const byDefault = o.default === undefined ? '' : `${o.default}${o.defaultNote ? ` (${o.defaultNote})` : ''}`;
    const row = [synopsis(o), values(o), byDefault, o.help];
    if (unitColumn) row.push(inUnit(o));
    out.push(`| ${row.map(cell).join(' | ')} |`);
  }
  return out;
}

/** The whole of docs/cli.md. */
export function cliReference(): string {
  const launch = optionsOf('launch');
  const groups = [...new Set(launch.map((o) => o.group))];
  const out: string[] = [
    '# The sockact command line',
    '',
    '<!-- Generated from src/cli/options.ts by `npm run docs:cli`: edit the table there, not this file. -->',
    '',
    '| Command | What it does |',
    '|---|---|',
    '| `sockact [options] [--] PROGRAM [ARGS...]` | Bind the sockets and start PROGRAM with them at fd 3.. ' +
      '(systemd socket activation); everything after PROGRAM is passed to it. |',
    `| \`sockact status\\|reload\\|stop [${optionsOf('control')
      .map((o) => `--${o.name} ${o.arg}`)
      .join(' \\| ')}]\` | Ask the running sockact (found by its control socket). |`,
    '| `sockact unit --name NAME [options] [--] PROGRAM [ARGS...]` | ' +
      'Print (or write) the systemd units that run PROGRAM as that command line does. |',
    '',
    'TIME is a time span as systemd.time(7) writes it: `500ms`, `10s`, `1min 30s`, `2h`; a bare number is seconds.',
    'Timers longer than about 24.8 days are refused (Node cannot set them); where 0 or `infinity` means "off",',
    'the value in a unit file is written as systemd reads it (`TimeoutStopSec=infinity`, `WatchdogSec=0`).',
    '',
  ];
  for (const g of groups)
    out.push(
      `## ${g}`,
      '',
      ...optionTable(
        launch.filter((o) => o.group === g),
        true,
      ),
      '',
    );
  const unitOwn = ALL_OPTIONS.filter((o) => o.commands.includes('unit') && !o.commands.includes('launch'));
  out.push(
    '## `sockact unit`',
    '',
    'Its own options; it also takes the options above that the last column does not refuse.',
    '',
  );
  out.push(...optionTable(unitOwn, false), '');
  out.push(
    '## Examples',
    '',
    '| Command | What it does |',
    '|---|---|',
    ...EXAMPLES.map(([c, w]) => `| \`${cell(c)}\` | ${cell(w)} |`),
    '',
  );
  out.push('## Notes', '', ...EPILOGUE.split('\n\n').flatMap((p) => [p, '']));
  out.push('## Notes on units', '', ...UNIT_EPILOGUE.split('\n\n').flatMap((p) => [p, '']));
  return `${out.join('\n').trimEnd()}\n`;
}
