/**
 * Near-duplicate groups by perceptual hash, without comparing all pairs. Multi-index hashing:
 * the 64-bit hash is cut into `distance + 1` bands; two hashes within `distance` bits of each
 * other agree exactly on at least one band (pigeonhole), so only images sharing a band value
 * are compared. With distinct images the buckets stay small, and the work grows about linearly
 * with the number of images instead of with its square.
 */
import { UnionFind } from './union-find.js';
import { popcount32 } from './popcount.js';

export interface HashedImage {
  key: string;
  phash: string;
}

export interface NearGroup {
  keys: string[];
  /** The largest Hamming distance between a member and the member it joined through. */
  maxDistance: number;
}

function split(phash: string): [number, number] {
  return [parseInt(phash.slice(0, 8), 16) >>> 0, parseInt(phash.slice(8, 16), 16) >>> 0];
}

export function hamming(a: [number, number], b: [number, number]): number {
  return popcount32((a[0] ^ b[0]) >>> 0) + popcount32((a[1] ^ b[1]) >>> 0);
}

/** Bit ranges of the bands: as equal as 64 bits allow. */
function bands(count: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i += 1) ranges.push([Math.floor((i * 64) / count), Math.floor(((i + 1) * 64) / count)]);
  return ranges;
}

function bandValue(hash: bigint, [from, to]: [number, number]): bigint {
  return (hash >> BigInt(64 - to)) & ((1n << BigInt(to - from)) - 1n);
}

/** Groups (connected components) of images whose hashes are within `distance` bits. */
export function nearDuplicateGroups(images: readonly HashedImage[], distance: number): NearGroup[] {
  const hashes = images.map((image) => split(image.phash));
  const wide = images.map((image) => BigInt(`0x${image.phash}`));
  const sets = new UnionFind(images.length);
  const joinDistance = new Map<number, number>();
  for (const range of bands(Math.min(distance + 1, 64))) {
    const buckets = new Map<bigint, number[]>();
    images.forEach((_, i) => {
      const value = bandValue(wide[i]!, range);
      const bucket = buckets.get(value);
      if (bucket) bucket.push(i);
      else buckets.set(value, [i]);
    });
    for (const bucket of buckets.values()) {
      for (let a = 0; a < bucket.length; a += 1) {
        for (let b = a + 1; b < bucket.length; b += 1) {
          const d = hamming(hashes[bucket[a]!]!, hashes[bucket[b]!]!);
          if (d > distance) continue;
          const [ra, rb] = [sets.find(bucket[a]!), sets.find(bucket[b]!)];
          if (ra === rb) continue;
          sets.join(ra, rb);
          joinDistance.set(ra, Math.max(joinDistance.get(ra) ?? 0, joinDistance.get(rb) ?? 0, d));
        }
      }
    }
  }
  return [...sets.sets()]
    .filter(([, members]) => members.length > 1)
    .map(([root, members]) => ({ keys: members.map((i) => images[i]!.key).sort(), maxDistance: joinDistance.get(root) ?? 0 }))
    .sort((a, b) => b.keys.length - a.keys.length || a.keys[0]!.localeCompare(b.keys[0]!));
}
