import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/protocol/duration.js';

describe('parseDuration (systemd.time(7) spans, in ms)', () => {
  it.each<[string, number]>([
    ['90', 90_000], // a bare number is seconds, as in unit files
    ['100ms', 100],
    ['1.5s', 1500],
    ['10 s', 10_000], // systemd allows a space before the unit
    ['1min 30s', 90_000], // and several parts
    ['2h', 7_200_000],
    ['250us', 0.25],
    ['infinity', Infinity],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '10 parsecs', '-1s', 's', '1s garbage'])(
    'refuses %j, naming the option and the value',
    (text) => {
      expect(() => parseDuration(text, '--stop-timeout')).toThrow(
        `--stop-timeout is not a time span such as 500ms, 10s or 1min: '${text}'`,
      );
    },
  );
});

describe('formatDuration', () => {
  it.each<[number, string]>([
    [94, '94 ms'],
    [2000, '2.0 s'],
    [30_000, '30 s'],
    [90_000, '1 min 30 s'],
    [Infinity, 'infinity'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
