import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');
export const unitsDir = join(root, 'contrib', 'systemd');

/**
 * A unit's text with its install paths (/srv/hello, /usr/local/bin/sockact, /usr/bin/node)
 * pointed at this checkout, so it can be verified and its ExecStart run here.
 */
export function localize(text: string): string {
  return text
    .replaceAll('/srv/hello', join(root, 'examples', 'hello'))
    .replaceAll('/usr/local/bin/sockact', join(root, 'bin', 'sockact.js'))
    .replaceAll('/usr/bin/node', process.execPath);
}

/** The [Section] Key= values of a unit file (last one wins, as systemd reads most keys). */
export function unitValues(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = '';
  for (const line of text.split('\n')) {
    const s = line.trim();
    if (!s || s.startsWith('#') || s.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(s);
    if (sec) section = sec[1]!;
    else {
      const eq = s.indexOf('=');
      out.set(`${section}.${s.slice(0, eq)}`, s.slice(eq + 1));
    }
  }
  return out;
}
