// docs/cli.md is generated from the option table (src/cli/options.ts): the committed file is
// exactly what the generator writes now, so a change to the table that is not regenerated fails
// here. Run `npm run docs:cli` to regenerate it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_OPTIONS } from '../../src/cli/options.js';
import { cliReference } from '../../src/cli/reference.js';
import { ROOT } from '../_support/launcher.js';

const committed = readFileSync(join(ROOT, 'docs/cli.md'), 'utf8');

describe('docs/cli.md', () => {
  it('is what `npm run docs:cli` writes from the option table (run it after changing the table)', () => {
    expect(committed === cliReference(), 'docs/cli.md is stale: run `npm run docs:cli`').toBe(true);
  });

  it('has one row per option and command, with its help text and default', () => {
    for (const o of ALL_OPTIONS) {
      const rows = committed
        .split('\n')
        .filter((l) => l.startsWith('| `-') && new RegExp(`\`--${o.name}[\` ]`).test(l.split(' | ')[0]!));
      const row = rows.find((l) => l.includes(o.help.replaceAll('|', '\\|').replaceAll('<', '&lt;')));
      expect(row, `--${o.name} (${o.commands.join(', ')})`).toBeDefined();
      if (o.default !== undefined) expect(row).toContain(`| ${o.default}`);
    }
  });
});
