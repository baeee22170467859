/** Box maths shared by detectors: overlap and greedy non-maximum suppression. */

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Area the two boxes share. */
export function intersection(a: Box, b: Box): number {
  const left = Math.max(a.x, b.x);
  const top = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width);
  const bottom = Math.min(a.y + a.height, b.y + b.height);
  return Math.max(0, right - left) * Math.max(0, bottom - top);
}

export function iou(a: Box, b: Box): number {
  const overlap = intersection(a, b);
  const union = a.width * a.height + b.width * b.height - overlap;
  return union > 0 ? overlap / union : 0;
}

/** Keeps the best-scoring candidates, dropping any that overlap a kept one by more than `threshold`. */
export function nonMaxSuppression<T extends { box: Box; score: number }>(candidates: readonly T[], threshold: number): T[] {
  const kept: T[] = [];
  for (const candidate of [...candidates].sort((a, b) => b.score - a.score)) {
    if (kept.every((other) => iou(other.box, candidate.box) <= threshold)) kept.push(candidate);
  }
  return kept;
}
