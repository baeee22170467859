/**
 * Batched JSON lines (`--json` events, `--log-format json`): batched records wait for a full
 * batch, a short pause or an unbatched record, and every record comes out once, whole and in order.
 */
import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { JsonLinesWriter } from '../../src/pipeline/json-lines.js';

function recorder() {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.toString());
      callback();
    },
  });
  return { out, writes, records: () => writes.join('').split('\n').filter(Boolean).map((line) => JSON.parse(line)) };
}

describe('JsonLinesWriter', () => {
  it('holds batched records until an unbatched one, then writes them all in one write, in order', () => {
    const { out, writes, records } = recorder();
    const lines = new JsonLinesWriter(out);
    lines.write({ n: 1 }, true);
    lines.write({ n: 2 }, true);
    expect(writes).toEqual([]);
    lines.write({ n: 3, text: 'line\nbreak' }, false);
    expect(writes).toHaveLength(1);
    expect(records()).toEqual([{ n: 1 }, { n: 2 }, { n: 3, text: 'line\nbreak' }]);
  });

  it('writes a full batch at once and the rest after a short pause; flush is idempotent', () => {
    vi.useFakeTimers();
    try {
      const { out, writes, records } = recorder();
      const lines = new JsonLinesWriter(out);
      for (let n = 0; n < 600; n++) lines.write({ n }, true);
      expect(writes).toHaveLength(1);
      expect(records()).toHaveLength(512);
      vi.advanceTimersByTime(150);
      expect(writes).toHaveLength(2);
      expect(records().map((r) => r.n)).toEqual([...Array(600).keys()]);
      lines.flush();
      expect(writes).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
