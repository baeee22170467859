import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { keepYoungGenerationSmall } from '../../src/runtime/young-generation.js';

describe('the young generation', () => {
  it('stays at its starting size while objects keep surviving, as they do over a long run (so peak RSS stays flat)', () => {
    keepYoungGenerationSmall();
    const newSpace = (): number => v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size;
    // Without the flag V8 grows it to 16 MB a semi-space (33.6 MB in all) within this loop; the
    // test runner has already grown it some, and it must not grow further.
    const before = newSpace();
    expect(before).toBeLessThan(16 * 1024 * 1024);
    const kept: object[] = [];
    for (let i = 0; i < 2_000_000; i += 1) {
      const made = { i, text: `item ${i}`, pair: [i, i + 1] };
      if (i % 50 === 0) kept.push(made);
      if (kept.length > 20_000) kept.splice(0, 10_000);
    }
    expect(kept.length).toBeGreaterThan(0);
    expect(newSpace()).toBe(before);
  });
});
