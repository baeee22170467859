/**
 * Colour maths shared by tasks: sRGB → CIELAB, CIEDE2000, colour names and dominant colours.
 * Everything is deterministic (no randomness, stable tie-breaks) so reruns give identical results.
 */

export type Lab = readonly [number, number, number];

// A type alias, not an interface: only aliases are assignable to JsonValue's index signature.
export type DominantColour = {
  /** '#rrggbb', lowercase. */
  hex: string;
  rgb: [number, number, number];
  /** Fraction of the opaque pixels, 0..1, rounded to 3 decimals. */
  share: number;
  name: string;
};

// Linearising through a table keeps per-pixel conversion to a lookup; there are only 256 inputs.
const SRGB_TO_LINEAR = new Float64Array(256);
for (let i = 0; i < 256; i++) {
  const c = i / 255;
  SRGB_TO_LINEAR[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

// D65 reference white, matching the sRGB matrix below (IEC 61966-2-1).
const XN = 0.95047;
const YN = 1.0;
const ZN = 1.08883;
const EPSILON = 216 / 24389;
const KAPPA = 24389 / 27;

function labF(t: number): number {
  return t > EPSILON ? Math.cbrt(t) : (KAPPA * t + 16) / 116;
}

/** 8-bit sRGB to D65 CIELAB. Accepts fractional channel values (e.g. cluster means). */
export function srgbToLab(r: number, g: number, b: number): [number, number, number] {
  const rl = linear(r);
  const gl = linear(g);
  const bl = linear(b);
  const x = 0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl;
  const y = 0.2126729 * rl + 0.7151522 * gl + 0.072175 * bl;
  const z = 0.0193339 * rl + 0.119192 * gl + 0.9503041 * bl;
  const fx = labF(x / XN);
  const fy = labF(y / YN);
  const fz = labF(z / ZN);
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

/** Interpolates the table for fractional inputs: within 1e-5 of the exact curve, and much cheaper. */
function linear(v: number): number {
  if (v <= 0) return 0;
  if (v >= 255) return 1;
  const i = Math.floor(v);
  const f = v - i;
  return f === 0 ? SRGB_TO_LINEAR[i]! : SRGB_TO_LINEAR[i]! + f * (SRGB_TO_LINEAR[i + 1]! - SRGB_TO_LINEAR[i]!);
}

const DEG = Math.PI / 180;
const POW25_7 = 25 ** 7;

function hueDegrees(b: number, aPrime: number): number {
  if (aPrime === 0 && b === 0) return 0;
  const h = Math.atan2(b, aPrime) / DEG;
  return h < 0 ? h + 360 : h;
}

/**
 * CIEDE2000 colour difference (kL = kC = kH = 1), following Sharma, Wu & Dalal (2005),
 * whose 34 reference pairs the unit tests check.
 */
export function deltaE2000(lab1: Lab, lab2: Lab): number {
  const [L1, a1, b1] = lab1;
  const [L2, a2, b2] = lab2;

  const cBar = (Math.hypot(a1, b1) + Math.hypot(a2, b2)) / 2;
  const cBar7 = cBar ** 7;
  const g = 0.5 * (1 - Math.sqrt(cBar7 / (cBar7 + POW25_7)));
  const a1p = (1 + g) * a1;
  const a2p = (1 + g) * a2;
  const c1p = Math.hypot(a1p, b1);
  const c2p = Math.hypot(a2p, b2);
  const h1p = hueDegrees(b1, a1p);
  const h2p = hueDegrees(b2, a2p);
  const chromaless = c1p * c2p === 0;

  const dLp = L2 - L1;
  const dCp = c2p - c1p;
  let dhp = 0;
  if (!chromaless) {
    dhp = h2p - h1p;
    if (dhp > 180) dhp -= 360;
    else if (dhp < -180) dhp += 360;
  }
  const dHp = 2 * Math.sqrt(c1p * c2p) * Math.sin((dhp / 2) * DEG);

  const lBarP = (L1 + L2) / 2;
  const cBarP = (c1p + c2p) / 2;
  let hBarP = h1p + h2p;
  if (!chromaless) {
    if (Math.abs(h1p - h2p) > 180) hBarP += hBarP < 360 ? 360 : -360;
    hBarP /= 2;
  }

  const t =
    1 -
    0.17 * Math.cos((hBarP - 30) * DEG) +
    0.24 * Math.cos(2 * hBarP * DEG) +
    0.32 * Math.cos((3 * hBarP + 6) * DEG) -
    0.2 * Math.cos((4 * hBarP - 63) * DEG);
  const dTheta = 30 * Math.exp(-(((hBarP - 275) / 25) ** 2));
  const cBarP7 = cBarP ** 7;
  const rC = 2 * Math.sqrt(cBarP7 / (cBarP7 + POW25_7));
  const l50 = (lBarP - 50) ** 2;
  const sL = 1 + (0.015 * l50) / Math.sqrt(20 + l50);
  const sC = 1 + 0.045 * cBarP;
  const sH = 1 + 0.015 * cBarP * t;
  const rT = -Math.sin(2 * dTheta * DEG) * rC;

  const l = dLp / sL;
  const c = dCp / sC;
  const h = dHp / sH;
  return Math.sqrt(l * l + c * c + h * h + rT * c * h);
}

/*
 * Everyday names with representative sRGB values. Some names need two references: green and
 * blue span a wide lightness range in sRGB, and with a single reference CIEDE2000 would call
 * web green (0,128,0) "dark green" and pure (0,255,0) "light green", which nobody does.
 */
const PALETTE: ReadonlyArray<{ name: string; rgb: readonly [number, number, number] }> = [
  { name: 'black', rgb: [0, 0, 0] },
  { name: 'dark grey', rgb: [64, 64, 64] },
  { name: 'grey', rgb: [128, 128, 128] },
  { name: 'light grey', rgb: [192, 192, 192] },
  { name: 'white', rgb: [255, 255, 255] },
  { name: 'red', rgb: [255, 0, 0] },
  { name: 'dark red', rgb: [139, 0, 0] },
  { name: 'pink', rgb: [255, 170, 190] },
  { name: 'salmon', rgb: [250, 128, 114] },
  { name: 'orange', rgb: [255, 140, 0] },
  { name: 'brown', rgb: [130, 75, 30] },
  { name: 'tan', rgb: [210, 180, 140] },
  { name: 'beige', rgb: [240, 230, 200] },
  { name: 'gold', rgb: [255, 200, 0] },
  { name: 'yellow', rgb: [255, 255, 0] },
  { name: 'olive', rgb: [128, 128, 0] },
  { name: 'light green', rgb: [170, 240, 170] },
  { name: 'green', rgb: [0, 128, 0] },
  { name: 'green', rgb: [0, 220, 0] },
  { name: 'dark green', rgb: [0, 80, 0] },
  { name: 'teal', rgb: [0, 128, 128] },
  { name: 'cyan', rgb: [0, 255, 255] },
  { name: 'light blue', rgb: [150, 200, 240] },
  { name: 'blue', rgb: [0, 0, 255] },
  { name: 'blue', rgb: [60, 110, 200] },
  { name: 'navy', rgb: [0, 0, 128] },
  { name: 'purple', rgb: [128, 0, 128] },
  { name: 'lavender', rgb: [190, 160, 230] },
  { name: 'magenta', rgb: [255, 0, 255] },
];

const PALETTE_LAB = PALETTE.map((p) => ({ name: p.name, lab: srgbToLab(...p.rgb) }));

function nameOfLab(lab: Lab): string {
  let best = PALETTE_LAB[0]!;
  let bestDistance = Infinity;
  for (const entry of PALETTE_LAB) {
    const d = deltaE2000(lab, entry.lab);
    if (d < bestDistance) {
      bestDistance = d;
      best = entry;
    }
  }
  return best.name;
}

/** The nearest everyday colour name by CIEDE2000. */
export function colourName(r: number, g: number, b: number): string {
  return nameOfLab(srgbToLab(r, g, b));
}

// --- dominant colours ----------------------------------------------------------------------

/** Pixels actually visited: a 512x512 input is read at every other pixel in both directions. */
const MAX_SAMPLES = 256 * 256;
/** Pixels are first counted in a 32x32x32 RGB histogram. */
const FINE_BITS = 5;
/** Beyond this many non-empty fine bins (noisy or very colourful images), cluster 16x16x16 bins. */
const MAX_POINTS = 4096;
/** Initial centres come from an 8x8x8 histogram. */
const SEED_BITS = 3;
const SEED_MIN_DELTA_E = 12;
const MERGE_DELTA_E = 8;
const MIN_SHARE = 0.01;
const LLOYD_ITERATIONS = 8;

interface Cluster {
  count: number;
  r: number;
  g: number;
  b: number;
  lab: [number, number, number];
}

/**
 * Two shades that people would call by the same name are one colour to them: report them once,
 * as their pixel-weighted mean.
 */
function mergeSameName<T extends { count: number; r: number; g: number; b: number }>(clusters: T[]): T[] {
  const byName = new Map<string, T>();
  for (const cluster of clusters) {
    if (cluster.count === 0) continue;
    const name = colourName(cluster.r / cluster.count, cluster.g / cluster.count, cluster.b / cluster.count);
    const same = byName.get(name);
    if (!same) {
      byName.set(name, { ...cluster });
      continue;
    }
    same.count += cluster.count;
    same.r += cluster.r;
    same.g += cluster.g;
    same.b += cluster.b;
  }
  return [...byName.values()];
}

/**
 * The main colours of an RGBA image, most common first. Pixels with alpha < 128 are ignored.
 *
 * Pixels are binned into an RGB histogram that keeps each bin's exact pixel count and channel
 * sums, then weighted k-means runs in Lab over the non-empty bins. The work is bounded by the
 * number of bins (at most MAX_POINTS), not pixels, and reported colours are exact means of the
 * sampled pixels.
 */
export function dominantColours(
  rgba: Uint8Array | Buffer,
  width: number,
  height: number,
  max = 5,
): DominantColour[] {
  const pixelCount = width * height;
  if (rgba.length < pixelCount * 4) {
    throw new Error(`dominantColours: expected ${pixelCount * 4} bytes of RGBA, got ${rgba.length}`);
  }
  if (max <= 0 || pixelCount === 0) return [];

  const { histogram: fine, total } = accumulate(rgba, width, height);
  if (total === 0) return [];

  const points = toPoints(nonEmpty(fine) > MAX_POINTS ? fold(fine, FINE_BITS, FINE_BITS - 1) : fine);
  const seeds = seedCentres(fold(fine, FINE_BITS, SEED_BITS), Math.max(2 * max, 8));
  const clusters = lloyd(points, seeds);
  mergeClose(clusters);

  return mergeSameName(clusters)
    .map((cluster) => ({ cluster, share: cluster.count / total }))
    .filter((x) => x.share >= MIN_SHARE)
    .sort((x, y) => y.share - x.share || x.cluster.lab[0] - y.cluster.lab[0])
    .slice(0, max)
    .map(({ cluster, share }) => {
      const rgb: [number, number, number] = [
        Math.round(cluster.r / cluster.count),
        Math.round(cluster.g / cluster.count),
        Math.round(cluster.b / cluster.count),
      ];
      return {
        hex: '#' + rgb.map((v) => v.toString(16).padStart(2, '0')).join(''),
        rgb,
        share: Math.round(share * 1000) / 1000,
        name: colourName(...rgb),
      };
    });
}

/**
 * The fine histogram (512 KB), reused by every call on this thread: a fresh one per image was
 * most of what the meta task allocated, garbage that piled up in the worker threads' malloc
 * arenas between collections (peak RSS grew with the length of a run). Only accumulate's
 * caller reads it, synchronously, and keeps nothing of it.
 */
let fineHistogram: Uint32Array | undefined;

/**
 * Counts opaque pixels into a 2^(3*FINE_BITS)-bin histogram stored as interleaved
 * [count, sumR, sumG, sumB] per bin. Uint32 sums cannot overflow: a bin would need 16 million
 * samples.
 */
function accumulate(rgba: Uint8Array | Buffer, width: number, height: number): { histogram: Uint32Array; total: number } {
  const histogram = (fineHistogram ??= new Uint32Array((1 << (3 * FINE_BITS)) * 4)).fill(0);
  const shift = 8 - FINE_BITS;
  // A square stride keeps the sample spread over the whole frame rather than the top rows.
  const step = Math.max(1, Math.ceil(Math.sqrt((width * height) / MAX_SAMPLES)));
  let total = 0;
  for (let y = 0; y < height; y += step) {
    const rowEnd = (y + 1) * width * 4;
    for (let i = y * width * 4; i < rowEnd; i += 4 * step) {
      if (rgba[i + 3]! < 128) continue;
      const r = rgba[i]!;
      const g = rgba[i + 1]!;
      const b = rgba[i + 2]!;
      const o = (((r >> shift) << (2 * FINE_BITS)) | ((g >> shift) << FINE_BITS) | (b >> shift)) << 2;
      histogram[o]!++;
      histogram[o + 1]! += r;
      histogram[o + 2]! += g;
      histogram[o + 3]! += b;
      total++;
    }
  }
  return { histogram, total };
}

/** Re-bins an interleaved histogram at fewer bits per channel; counts and sums just add up. */
function fold(histogram: Uint32Array, fromBits: number, toBits: number): Uint32Array {
  const out = new Uint32Array((1 << (3 * toBits)) * 4);
  const mask = (1 << fromBits) - 1;
  const down = fromBits - toBits;
  for (let bin = 0; bin < histogram.length >> 2; bin++) {
    if (histogram[bin << 2] === 0) continue;
    const r = (bin >> (2 * fromBits)) >> down;
    const g = ((bin >> fromBits) & mask) >> down;
    const b = (bin & mask) >> down;
    const o = ((r << (2 * toBits)) | (g << toBits) | b) << 2;
    for (let c = 0; c < 4; c++) out[o + c]! += histogram[(bin << 2) + c]!;
  }
  return out;
}

/** The non-empty bins of a histogram, each with the Lab of its mean colour. */
interface Points {
  size: number;
  /** Interleaved [count, sumR, sumG, sumB] per point. */
  sums: Uint32Array;
  /** Interleaved [L, a, b] per point. */
  lab: Float64Array;
}

function nonEmpty(histogram: Uint32Array): number {
  let size = 0;
  for (let o = 0; o < histogram.length; o += 4) if (histogram[o]! > 0) size++;
  return size;
}

function toPoints(histogram: Uint32Array): Points {
  const size = nonEmpty(histogram);
  const sums = new Uint32Array(size * 4);
  const lab = new Float64Array(size * 3);
  for (let o = 0, k = 0; o < histogram.length; o += 4) {
    const n = histogram[o]!;
    if (n === 0) continue;
    sums.set(histogram.subarray(o, o + 4), k * 4);
    lab.set(srgbToLab(histogram[o + 1]! / n, histogram[o + 2]! / n, histogram[o + 3]! / n), k * 3);
    k++;
  }
  return { size, sums, lab };
}

/**
 * Initial centres: the most populous coarse bins (at their mean colour), skipping any that look
 * too much like one already chosen so that a large flat area cannot claim every centre.
 */
function seedCentres(coarse: Uint32Array, k: number): Lab[] {
  const bins: number[] = [];
  for (let bin = 0; bin < coarse.length >> 2; bin++) if (coarse[bin << 2]! > 0) bins.push(bin);
  // Ties broken by bin index so the result never depends on sort stability.
  bins.sort((a, b) => coarse[b << 2]! - coarse[a << 2]! || a - b);

  const centres: Lab[] = [];
  for (const bin of bins) {
    const o = bin << 2;
    const n = coarse[o]!;
    const lab = srgbToLab(coarse[o + 1]! / n, coarse[o + 2]! / n, coarse[o + 3]! / n);
    if (centres.every((c) => deltaE2000(c, lab) >= SEED_MIN_DELTA_E)) centres.push(lab);
    if (centres.length === k) break;
  }
  return centres;
}

/** Weighted Lloyd iterations over the points, using Euclidean Lab distance for speed. */
function lloyd(points: Points, seeds: Lab[]): Cluster[] {
  const k = seeds.length;
  const centres = new Float64Array(k * 3);
  seeds.forEach((s, i) => centres.set(s, i * 3));
  const assignment = new Int32Array(points.size).fill(-1);
  let clusters: Cluster[] = [];

  for (let iteration = 0; iteration < LLOYD_ITERATIONS; iteration++) {
    if (!assign(points.lab, centres, assignment)) break;

    clusters = Array.from({ length: k }, () => ({ count: 0, r: 0, g: 0, b: 0, lab: [0, 0, 0] }));
    for (let p = 0; p < points.size; p++) {
      const cluster = clusters[assignment[p]!]!;
      cluster.count += points.sums[p * 4]!;
      cluster.r += points.sums[p * 4 + 1]!;
      cluster.g += points.sums[p * 4 + 2]!;
      cluster.b += points.sums[p * 4 + 3]!;
    }
    // The centre is the Lab of the mean RGB rather than the mean Lab, so the colour we report
    // (the mean RGB) is exactly the point we clustered around.
    clusters.forEach((cluster, c) => {
      if (cluster.count === 0) {
        // An emptied centre must not win any point again; it is dropped below.
        centres.fill(1e9, c * 3, c * 3 + 3);
        return;
      }
      cluster.lab = srgbToLab(cluster.r / cluster.count, cluster.g / cluster.count, cluster.b / cluster.count);
      centres.set(cluster.lab, c * 3);
    });
  }
  return clusters.filter((c) => c.count > 0);
}

/** Moves each bin to its nearest centre; reports whether any bin moved. */
function assign(points: Float64Array, centres: Float64Array, assignment: Int32Array): boolean {
  const k = centres.length / 3;
  let changed = false;
  for (let p = 0, n = assignment.length; p < n; p++) {
    const L = points[p * 3]!;
    const A = points[p * 3 + 1]!;
    const B = points[p * 3 + 2]!;
    let best = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < k; c++) {
      const dl = L - centres[c * 3]!;
      const da = A - centres[c * 3 + 1]!;
      const db = B - centres[c * 3 + 2]!;
      const d = dl * dl + da * da + db * db;
      if (d < bestDistance) {
        bestDistance = d;
        best = c;
      }
    }
    if (assignment[p] !== best) {
      changed = true;
      assignment[p] = best;
    }
  }
  return changed;
}

/** Merges the closest pair while any pair is under MERGE_DELTA_E apart: k-means over-splits. */
function mergeClose(clusters: Cluster[]): void {
  for (;;) {
    let bestI = -1;
    let bestJ = -1;
    let bestDistance = MERGE_DELTA_E;
    for (let i = 0; i < clusters.length; i++) {
      for (let j = i + 1; j < clusters.length; j++) {
        const d = deltaE2000(clusters[i]!.lab, clusters[j]!.lab);
        if (d < bestDistance) {
          bestDistance = d;
          bestI = i;
          bestJ = j;
        }
      }
    }
    if (bestI < 0) return;
    const a = clusters[bestI]!;
    const b = clusters.splice(bestJ, 1)[0]!;
    a.count += b.count;
    a.r += b.r;
    a.g += b.g;
    a.b += b.b;
    a.lab = srgbToLab(a.r / a.count, a.g / a.count, a.b / a.count);
  }
}
