import { EPILOGUE, EXAMPLES, OPTIONS, rangeText } from './options.js';

/** require() from here, made when first needed: this module is in the lazy chunk that other features load too. */
const require = (id: string): unknown => process.getBuiltinModule('node:module').createRequire(import.meta.url)(id);

/** The package version, from package.json (dist/src/cli -> the package root). */
export function version(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      return (require(rel) as { version: string }).version;
    } catch {
      // Not at this depth: running from src/ rather than dist/src/.
    }
  }
  return 'unknown';
}

/**
 * The --help text, rendered by full yargs from the same option table the launch path parses
 * (cli/parse.ts). yargs is loaded here only (its CJS entry, the faster one), never on a launch.
 */
export async function helpText(): Promise<string> {
  const yargs = require('yargs/yargs') as (args: string[]) => import('yargs').Argv;
  const y = yargs([])
    .scriptName('sockact')
    .usage(
      'Usage: $0 [options] [--] PROGRAM [ARGS...]\n\nBind sockets and start PROGRAM with them at fd 3.. ' +
        '(systemd socket activation).\nEverything after PROGRAM is passed to it, with or without --.',
    )
    .help(false)
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100));
  for (const o of OPTIONS) {
    const range = rangeText(o);
    y.option(o.name, {
      ...(o.alias ? { alias: o.alias } : {}),
      type: o.kind === 'flag' ? 'boolean' : 'string',
      ...(o.kind === 'repeatable' ? { array: true } : {}),
      describe: range ? `${o.describe} [${range}]` : o.describe,
      group: `${o.group}:`,
      ...(o.arg ? { requiresArg: true } : {}),
    });
  }
  for (const [cmd, what] of EXAMPLES) y.example(cmd, what);
  y.epilogue(EPILOGUE);
  return y.getHelp();
}
