/**
 * Perceptual hash (DCT pHash) of a 32x32 greyscale thumbnail.
 *
 * Variant: the one popularised by Python's `imagehash.phash` — an unnormalised 2-D DCT-II,
 * the top-left 8x8 coefficients (DC included), each bit set when its coefficient is strictly
 * greater than the median of those 64 values, bits read row by row with the first as the most
 * significant. Matching a widely used implementation means hashes can be compared with ones
 * computed elsewhere from the same thumbnail. Including the DC term in the median barely
 * matters: the median is robust to that one large value.
 */

const SIZE = 32;
const KEEP = 8;

// cos(pi * u * (2x + 1) / 2N) for the 8 kept frequencies u and all 32 positions x.
const COSINES = new Float64Array(KEEP * SIZE);
for (let u = 0; u < KEEP; u++) {
  for (let x = 0; x < SIZE; x++) COSINES[u * SIZE + x] = Math.cos((Math.PI * u * (2 * x + 1)) / (2 * SIZE));
}

/**
 * Coefficients smaller than this are floating-point residue of a mathematically zero value
 * (a flat image has no AC energy); snapping them keeps such images from hashing at random.
 */
const ZERO = 1e-6;

/** 64-bit pHash of 32x32 8-bit greyscale pixels (row-major, 1024 bytes), as 16 lowercase hex digits. */
export function perceptualHash(grey32: Uint8Array | Buffer): string {
  if (grey32.length !== SIZE * SIZE) {
    throw new Error(`perceptualHash expects ${SIZE * SIZE} greyscale bytes (32x32), got ${grey32.length}`);
  }

  // The DCT is separable: transform each row, then each column, and only the 8 lowest
  // frequencies are ever needed, so this costs 32*32*8 + 32*8*8 multiplications.
  const rows = new Float64Array(SIZE * KEEP);
  for (let y = 0; y < SIZE; y++) {
    for (let u = 0; u < KEEP; u++) {
      let sum = 0;
      for (let x = 0; x < SIZE; x++) sum += grey32[y * SIZE + x]! * COSINES[u * SIZE + x]!;
      rows[y * KEEP + u] = 2 * sum;
    }
  }
  const coefficients = new Float64Array(KEEP * KEEP);
  for (let v = 0; v < KEEP; v++) {
    for (let u = 0; u < KEEP; u++) {
      let sum = 0;
      for (let y = 0; y < SIZE; y++) sum += rows[y * KEEP + u]! * COSINES[v * SIZE + y]!;
      const c = 2 * sum;
      coefficients[v * KEEP + u] = Math.abs(c) < ZERO ? 0 : c;
    }
  }

  const sorted = Float64Array.from(coefficients).sort();
  const median = (sorted[KEEP * KEEP / 2 - 1]! + sorted[KEEP * KEEP / 2]!) / 2;

  let hex = '';
  for (let nibble = 0; nibble < 16; nibble++) {
    let value = 0;
    for (let bit = 0; bit < 4; bit++) value = (value << 1) | (coefficients[nibble * 4 + bit]! > median ? 1 : 0);
    hex += value.toString(16);
  }
  return hex;
}

const HEX64 = /^[0-9a-f]{16}$/i;
const NIBBLE_BITS = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

/** Number of differing bits between two 64-bit hashes written as 16 hex digits. */
export function hammingDistance(a: string, b: string): number {
  if (!HEX64.test(a) || !HEX64.test(b)) {
    throw new Error(`hammingDistance expects two 16-digit hex hashes, got "${a}" and "${b}"`);
  }
  let distance = 0;
  for (let i = 0; i < 16; i++) distance += NIBBLE_BITS[parseInt(a[i]!, 16) ^ parseInt(b[i]!, 16)]!;
  return distance;
}
