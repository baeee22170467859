/**
 * The pixel limit of this thread's decoding (`--max-pixels`), kept apart from image.ts so that
 * the main thread can word failures without loading sharp.
 */

/** Pixels (width x height) above which decoding is refused before allocation; libvips' own default. */
export const DEFAULT_MAX_PIXELS = 268_402_689;

let maxPixels = DEFAULT_MAX_PIXELS;

/** Set once per worker thread, from the run's `--max-pixels`. */
export function setMaxPixels(limit: number): void {
  maxPixels = limit;
}

export function pixelLimit(): number {
  return maxPixels;
}
