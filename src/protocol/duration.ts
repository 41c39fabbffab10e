import { quote, SockactError } from './errors.js';

const UNITS: Record<string, number> = {
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/**
 * A time span as systemd.time(7) writes one: "90s", "100ms", "1min 30s", "2h"; a bare number is
 * seconds, as in unit files. Returns milliseconds, or throws SockactError (ERR_DURATION) naming
 * `what` and the value. "infinity" is Infinity.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const t = text.trim();
  if (t === 'infinity') return Infinity;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  let total = 0;
  let rest = t;
  const part = /^(\d+(?:\.\d+)?)\s*([a-z]+)\s*/;
  if (rest === '') rest = 'x'; // an empty value is malformed
  while (rest !== '') {
    const m = part.exec(rest);
    const unit = m ? UNITS[m[2]!] : undefined;
    if (!m || unit === undefined) {
      throw new SockactError('ERR_DURATION', `${what} is not a time span such as 500ms, 10s or 1min: ${quote(text)}`, {
        value: text,
        expected: 'a time span such as 500ms, 10s, 1min',
      });
    }
    total += Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Milliseconds as a short span: "850 ms", "1.2 s", "3 min 4 s". */
export function formatDuration(ms: number): string {
  if (ms === Infinity) return 'infinity';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
