/**
 * Whole-image statistics on upright 8-bit RGBA pixels: brightness, contrast and sharpness.
 */

// A type alias, not an interface: only aliases are assignable to JsonValue's index signature.
export type PixelStats = {
  /** Mean Rec. 709 luma / 255, 0..1. */
  brightness: number;
  /** RMS contrast: standard deviation of luma / 255, 0..0.5. */
  contrast: number;
  /** Variance of the 4-neighbour Laplacian of luma (0..255 scale) over interior pixels. */
  sharpness: number;
};

/**
 * Luma uses Rec. 709 weights on the gamma-encoded values (not linear light), as video luma
 * does; these are ranking statistics, not photometry. Pixels are alpha-composited over white
 * so a transparent background reads as paper, not as black.
 */
export function pixelStats(rgba: Uint8Array | Buffer, width: number, height: number): PixelStats {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new Error(`pixelStats: invalid size ${width}x${height}`);
  }
  const n = width * height;
  if (rgba.length < n * 4) throw new Error(`pixelStats: expected ${n * 4} bytes of RGBA, got ${rgba.length}`);
  if (n === 0) return { brightness: 0, contrast: 0, sharpness: 0 };

  const luma = new Float64Array(n);
  let sum = 0;
  for (let p = 0, i = 0; p < n; p++, i += 4) {
    const alpha = rgba[i + 3]! / 255;
    const y = 0.2126 * rgba[i]! + 0.7152 * rgba[i + 1]! + 0.0722 * rgba[i + 2]!;
    const composited = y * alpha + 255 * (1 - alpha);
    luma[p] = composited;
    sum += composited;
  }
  const mean = sum / n;
  // Second pass around the mean: the one-pass sum-of-squares formula loses precision on flat images.
  let squares = 0;
  for (let p = 0; p < n; p++) squares += (luma[p]! - mean) ** 2;
  const deviation = Math.sqrt(squares / n);

  return {
    brightness: round(mean / 255, 3),
    contrast: round(deviation / 255, 3),
    sharpness: round(laplacianVariance(luma, width, height), 1),
  };
}

/**
 * Variance of the 3x3 Laplacian (0 1 0 / 1 -4 1 / 0 1 0) over pixels with all four neighbours:
 * edges give large second derivatives, blur flattens them, so the spread measures focus.
 */
function laplacianVariance(luma: Float64Array, width: number, height: number): number {
  if (width < 3 || height < 3) return 0;
  let sum = 0;
  let squares = 0;
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1, p = y * width + 1; x < width - 1; x++, p++) {
      const l = luma[p - width]! + luma[p + width]! + luma[p - 1]! + luma[p + 1]! - 4 * luma[p]!;
      sum += l;
      squares += l * l;
    }
  }
  const count = (width - 2) * (height - 2);
  const mean = sum / count;
  // Laplacian values are bounded (±1020) and average near zero, so one pass is accurate here.
  return Math.max(0, squares / count - mean * mean);
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}
