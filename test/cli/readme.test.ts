// The CLI reference (docs/launcher.md, linked from the README) cannot drift from the CLI: its option
// tables name exactly the options of src/cli/options.ts (and of `sockact unit`), every subcommand has
// a row, and every default that --help names (and every supervisor default in DEFAULTS) is the one
// the reference gives.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS, SUBCOMMANDS } from '../../src/cli/options.js';
import { UNIT_OPTIONS } from '../../src/cli/unit.js';
import { DEFAULTS } from '../../src/supervise/supervisor.js';
import { ROOT } from '../_support/launcher.js';

const REFERENCE = readFileSync(join(ROOT, 'docs', 'launcher.md'), 'utf8');

interface Row {
  /** The first cell, as written. */
  head: string;
  /** The whole row without backticks. */
  text: string;
  long: string[];
  short: string[];
}

/** Table rows whose first cell starts with `prefix` inside backticks, with the options they name. */
function rows(prefix: string): Row[] {
  return REFERENCE.split('\n')
    .filter((l) => l.startsWith(`| \`${prefix}`))
    .map((l) => {
      // Cells are split on '|' not escaped as '\|' (GitHub's rule, also inside code spans).
      const head = l.split(/(?<!\\)\|/)[1]!.trim();
      const spans = [...head.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
      return {
        head,
        text: l.replaceAll('`', '').replaceAll('\\|', '|'),
        long: spans.flatMap((s) => [...s.matchAll(/--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!)),
        short: spans.flatMap((s) => [...s.matchAll(/(?:^|[\s,])-([a-zA-Z])\b/g)].map((m) => m[1]!)),
      };
    });
}

const optionRows = rows('-');
const commandRows = rows('sockact ');
const rowOf = (name: string) => optionRows.find((r) => r.long.includes(name));

/** A supervisor default as --help writes it: durations (milliseconds in DEFAULTS) as 100ms or 10s. */
function asWritten(key: string, value: string | number): string {
  if (typeof value === 'string' || !/Delay|Interval|Timeout/.test(key)) return String(value);
  return value < 1000 || value % 1000 ? `${value}ms` : `${value / 1000}s`;
}
const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('docs/launcher.md CLI reference', () => {
  it('finds the option tables and the subcommand table', () => {
    expect(optionRows.length).toBeGreaterThan(20);
    expect(commandRows.length).toBe(SUBCOMMANDS.length);
  });

  it('names every option of src/cli/options.ts with its aliases, each in one row', () => {
    const missing: string[] = [];
    for (const o of OPTIONS) {
      const inRows = optionRows.filter((r) => r.long.includes(o.name));
      if (inRows.length !== 1) missing.push(`--${o.name} (in ${inRows.length} rows)`);
      for (const a of o.alias ?? []) {
        const r = inRows[0];
        if (!r || !(a.length === 1 ? r.short : r.long).includes(a))
          missing.push(`${a.length === 1 ? '-' : '--'}${a} beside --${o.name}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('names no option that does not exist', () => {
    const long = new Set(OPTIONS.flatMap((o) => [o.name, ...(o.alias ?? []).filter((a) => a.length > 1)]));
    const short = new Set(OPTIONS.flatMap((o) => (o.alias ?? []).filter((a) => a.length === 1)));
    expect(optionRows.flatMap((r) => r.long).filter((n) => !long.has(n))).toEqual([]);
    expect(optionRows.flatMap((r) => r.short).filter((n) => !short.has(n))).toEqual([]);
  });

  it('has a row for each subcommand, naming its options and only those', () => {
    for (const word of SUBCOMMANDS) {
      const r = commandRows.find((c) => c.head.startsWith(`\`sockact ${word} `));
      expect(r, `sockact ${word}`).toBeDefined();
      // status, reload and stop find the sockact by --name or --control (src/cli/control.ts).
      const own = word === 'unit' ? UNIT_OPTIONS.map((o) => o.name) : ['name', 'control'];
      expect(new Set(r!.long), `sockact ${word}`).toEqual(new Set(own));
    }
  });

  it('gives the default --help names for each option', () => {
    const wrong: string[] = [];
    const supervised = new Set(Object.keys(DEFAULTS).map(kebab));
    for (const o of OPTIONS) {
      // The supervisor's are checked against DEFAULTS below ("auto (default: READY=1 once...)" explains auto).
      if (supervised.has(o.name)) continue;
      const d = /\(default:? ([^,;)]+)/.exec(o.describe)?.[1]?.trim();
      if (d === undefined) continue;
      const r = rowOf(o.name);
      if (!r || !new RegExp(`default:? ${literal(d)}`).test(r.text)) wrong.push(`--${o.name}: ${d}`);
    }
    expect(wrong).toEqual([]);
  });

  it("gives the supervisor's DEFAULTS, as --help does", () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const [key, value] of Object.entries(DEFAULTS)) {
      if (typeof value === 'boolean') continue; // a flag: off unless given
      const name = kebab(key);
      const o = OPTIONS.find((x) => x.name === name);
      expect(o, `DEFAULTS.${key} is the default of --${name}`).toBeDefined();
      const v = literal(asWritten(key, value));
      // --help: "(default 100ms" or "no (default, ..."
      if (!new RegExp(`\\(default:? ${v}\\b|(^|\\s)${v} \\(default\\b`).test(o!.describe))
        wrong.push(`--help of --${name}: ${asWritten(key, value)}`);
      if (!new RegExp(`default:? ${v}\\b`).test(rowOf(name)?.text ?? ''))
        wrong.push(`docs/launcher.md row of --${name}: ${asWritten(key, value)}`);
      checked++;
    }
    expect(wrong).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(9);
  });
});
