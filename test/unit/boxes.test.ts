import { describe, expect, it } from 'vitest';
import { iou, nonMaxSuppression } from '../../src/runtime/boxes.js';

describe('box maths', () => {
  it('computes intersection over union', () => {
    const a = { x: 0, y: 0, width: 10, height: 10 };
    expect(iou(a, a)).toBe(1);
    expect(iou(a, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(50 / 150);
    expect(iou(a, { x: 20, y: 20, width: 5, height: 5 })).toBe(0);
  });

  it('keeps the best of overlapping candidates and every separate one', () => {
    const kept = nonMaxSuppression(
      [
        { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.6 },
        { box: { x: 1, y: 1, width: 10, height: 10 }, score: 0.9 },
        { box: { x: 50, y: 50, width: 10, height: 10 }, score: 0.4 },
      ],
      0.3,
    );
    expect(kept.map((c) => c.score)).toEqual([0.9, 0.4]);
  });
});
