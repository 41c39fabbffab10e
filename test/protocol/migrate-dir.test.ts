// The migration directory's names and the supervisor's list of serving workers
// (protocol/migrate-dir.ts): what the supervisor writes is what an app reads back.
import { describe, expect, it } from 'vitest';
import { formatServing, parseServing, receiverName } from '../../src/protocol/migrate-dir.js';

describe('the migration directory', () => {
  it('lists the serving workers one per line and reads them back', () => {
    const workers = [
      { generation: 3, worker: 1 },
      { generation: 3, worker: 2 },
      { generation: 12, worker: 1 },
    ];
    expect(formatServing(workers)).toBe('3.1\n3.2\n12.1\n');
    expect(parseServing(formatServing(workers))).toEqual(workers);
    expect(formatServing([])).toBe('');
    expect(parseServing('')).toEqual([]);
  });

  it('skips a line that is not <generation>.<worker> (a torn or foreign file names no target)', () => {
    expect(parseServing('3.1\n-1.2\n3\n3.1.migrate\n 4.1\n4.x\n5.2')).toEqual([
      { generation: 3, worker: 1 },
      { generation: 5, worker: 2 },
    ]);
  });

  it("names a worker's receiving socket after its generation and index", () => {
    expect(receiverName({ generation: 7, worker: 2 })).toBe('7.2.migrate');
  });
});
