/**
 * Groups of vectors (unit embeddings) whose cosine similarity reaches a threshold, without
 * comparing all pairs: random-hyperplane LSH (SimHash) finds candidates, an exact dot product
 * decides. Each vector, centred on the collection's mean (embeddings of photos share a large
 * common direction that would otherwise put everything in the same buckets), gets sign bits of
 * fast pseudo-random projections (random signs, then a Walsh-Hadamard transform: 2048
 * projections for the price of 11 passes over the vector);
 * the bits are cut into bands (of a width that balances sketch bits against unrelated
 * candidates, about log2(n) - 3), and there are as many bands as it takes for a pair at the
 * threshold to share at least one with probability `recall`. Candidates whose sketches differ too much to be at
 * the threshold are dropped before the exact check. Work grows about as n log n.
 */
import { UnionFind } from './union-find.js';
import { popcount32 } from './popcount.js';

export interface SimilarGroup {
  /** Indices into the input, ascending. */
  members: number[];
  /** The lowest similarity of the pairs that joined the group. */
  minSimilarity: number;
}

export interface SimilarOptions {
  /** Chance that a pair exactly at the threshold is found (higher similarities: more). */
  recall?: number;
  seed?: number;
}

export interface SimilarStats {
  bands: number;
  bitsPerBand: number;
  /** The chance that a pair exactly at the threshold is found: below `recall` when the band count hit its cap. */
  recall: number;
  candidates: number;
  checked: number;
}

const MAX_BANDS = 512;
/** Candidates are first compared on this many sketch bits: unrelated pairs differ on half of them. */
const FILTER_BITS = 256;
/** The centred length the plan is made for: this share of the vectors is shorter (and found a little less surely). */
const PERCENTILE = 0.1;

function lcg(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** In-place unnormalised Walsh-Hadamard transform (length a power of two, at least 4). */
function hadamard(v: Float32Array): void {
  // The first two stages at once: their inner loops (1 and 2 long) would cost as much as all the others.
  for (let i = 0; i < v.length; i += 4) {
    const [a, b, c, d] = [v[i]!, v[i + 1]!, v[i + 2]!, v[i + 3]!];
    v[i] = a + b + c + d;
    v[i + 1] = a - b + c - d;
    v[i + 2] = a + b - c - d;
    v[i + 3] = a - b - c + d;
  }
  for (let h = 4; h < v.length; h *= 2) {
    for (let i = 0; i < v.length; i += h * 2) {
      for (let j = i; j < i + h; j += 1) {
        const a = v[j]!;
        const b = v[j + h]!;
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
}

/**
 * The LSH parameters for n vectors and a threshold, given how spread the centred vectors are:
 * the band width with the least modelled work (long bands: many bands, so many sketch bits;
 * short bands: many unrelated candidates), with the bands it takes to reach `recall`.
 */
function lshPlan(n: number, minSimilarity: number, centredNorm: number, recall: number, rotationBits: number): { bitsPerBand: number; bands: number; hammingLimit: number; recall: number } {
  // Centring keeps distances: a pair at cosine s (distance^2 = 2(1 - s)) has centred cosine at least this.
  const centred = Math.max(-1, Math.min(1, 1 - (1 - minSimilarity) / Math.max(centredNorm ** 2, 1e-6)));
  const p = 1 - Math.acos(centred) / Math.PI;
  const bandsFor = (width: number): number => Math.max(1, Math.min(MAX_BANDS, Math.ceil(Math.log(1 - recall) / Math.log(1 - p ** width))));
  // Costs in about microseconds on one core: a rotation of one vector, a band over one vector (extract,
  // sort, walk), an unrelated candidate (screened on its sketch; unrelated centred vectors agree on half the bits).
  const cost = (width: number): number => {
    const bands = bandsFor(width);
    return n * Math.ceil((bands * width) / rotationBits) * 40 + bands * n * 0.3 + bands * ((n * n) / 2) * 2 ** -width * 0.05;
  };
  let bitsPerBand = 8;
  for (let width = 9; width <= 24; width += 1) if (cost(width) < cost(bitsPerBand)) bitsPerBand = width;
  const bands = bandsFor(bitsPerBand);
  const bits = bands * bitsPerBand;
  // A pair at the threshold differs on a fraction 1 - p of the filter's bits: allow 6 standard deviations more.
  const filterBits = Math.min(bits, FILTER_BITS);
  const hammingLimit = Math.ceil(filterBits * (1 - p) + 6 * Math.sqrt(filterBits * p * (1 - p)));
  return { bitsPerBand, bands, hammingLimit, recall: 1 - (1 - p ** bitsPerBand) ** bands };
}

/**
 * `data` holds n unit vectors of `dims` values, one after another. Returns the connected
 * components of the graph "cosine >= minSimilarity", groups of two or more.
 */
export function similarGroups(data: Float32Array, dims: number, minSimilarity: number, options: SimilarOptions = {}): { groups: SimilarGroup[]; stats: SimilarStats } {
  const n = dims > 0 ? data.length / dims : 0;
  const recall = options.recall ?? 0.99;
  const random = lcg(options.seed ?? 0x5eed);

  const mean = new Float64Array(dims);
  for (let i = 0; i < n; i += 1) for (let k = 0; k < dims; k += 1) mean[k] += data[i * dims + k]!;
  for (let k = 0; k < dims; k += 1) mean[k] /= Math.max(n, 1);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i += 1) {
    let sum = 0;
    for (let k = 0; k < dims; k += 1) sum += (data[i * dims + k]! - mean[k]!) ** 2;
    norms[i] = Math.sqrt(sum);
  }
  // A low percentile, so that the plan holds for nearly every vector, not just the typical one.
  const centredNorm = n > 0 ? [...norms].sort((a, b) => a - b)[Math.floor(n * PERCENTILE)]! : 1;
  let size = 4;
  while (size < dims) size *= 2;
  const plan = lshPlan(n, minSimilarity, centredNorm, recall, size);
  const bits = plan.bands * plan.bitsPerBand;

  // Sketches: `bits` sign bits per vector, from as many rotations of the padded space as needed.
  const rotations = Math.ceil(bits / size);
  const signs = Array.from({ length: rotations }, () => Float32Array.from({ length: size }, () => (random() < 0.5 ? -1 : 1)));
  const words = Math.ceil(bits / 32);
  const sketches = new Uint32Array(n * words);
  const buffer = new Float32Array(size);
  for (let i = 0; i < n; i += 1) {
    for (let r = 0; r < rotations; r += 1) {
      buffer.fill(0);
      for (let k = 0; k < dims; k += 1) buffer[k] = (data[i * dims + k]! - mean[k]!) * signs[r]![k]!;
      hadamard(buffer);
      for (let k = 0; k < size && r * size + k < bits; k += 1) {
        const bit = r * size + k;
        if (buffer[k]! > 0) sketches[i * words + (bit >>> 5)]! |= 1 << (bit & 31);
      }
    }
  }
  // Bits from..from+width of a sketch (width <= 24, so at most two words).
  const bandValue = (i: number, band: number): number => {
    const from = band * plan.bitsPerBand;
    const word = i * words + (from >>> 5);
    const shift = from & 31;
    const low = sketches[word]! >>> shift;
    const high = shift + plan.bitsPerBand > 32 ? sketches[word + 1]! << (32 - shift) : 0;
    return ((low | high) >>> 0) & ((1 << plan.bitsPerBand) - 1);
  };
  const filterWords = Math.ceil(Math.min(bits, FILTER_BITS) / 32);
  const hamming = (a: number, b: number): number => {
    let d = 0;
    for (let w = 0; w < filterWords; w += 1) d += popcount32((sketches[a * words + w]! ^ sketches[b * words + w]!) >>> 0);
    return d;
  };
  const dot = (a: number, b: number): number => {
    let sum = 0;
    for (let k = 0; k < dims; k += 1) sum += data[a * dims + k]! * data[b * dims + k]!;
    return sum;
  };

  const sets = new UnionFind(n);
  const joined = new Map<number, number>();
  const stats: SimilarStats = { bands: plan.bands, bitsPerBand: plan.bitsPerBand, recall: plan.recall, candidates: 0, checked: 0 };
  // Per band: sort (value, index) packed in one float64 (value < 2^24, index < 2^28) and walk runs of equal values.
  const order = new Float64Array(n);
  for (let band = 0; band < plan.bands; band += 1) {
    for (let i = 0; i < n; i += 1) order[i] = bandValue(i, band) * 2 ** 28 + i;
    order.sort();
    for (let start = 0; start < n; ) {
      const value = Math.floor(order[start]! / 2 ** 28);
      let end = start + 1;
      while (end < n && Math.floor(order[end]! / 2 ** 28) === value) end += 1;
      for (let x = start; x < end; x += 1) {
        for (let y = x + 1; y < end; y += 1) {
          const a = order[x]! % 2 ** 28;
          const b = order[y]! % 2 ** 28;
          stats.candidates += 1;
          const [ra, rb] = [sets.find(a), sets.find(b)];
          if (ra === rb || hamming(a, b) > plan.hammingLimit) continue;
          stats.checked += 1;
          const similarity = dot(a, b);
          if (similarity < minSimilarity) continue;
          sets.join(ra, rb);
          joined.set(ra, Math.min(joined.get(ra) ?? 1, joined.get(rb) ?? 1, similarity));
        }
      }
      start = end;
    }
  }

  const groups = [...sets.sets()]
    .filter(([, list]) => list.length > 1)
    .map(([root, list]) => ({ members: list, minSimilarity: Math.round((joined.get(root) ?? 1) * 1000) / 1000 }));
  return { groups, stats };
}
