/** Exact and near duplicates: the banded search finds what an all-pairs scan finds, and the CLI groups real copies. */
import { parse } from 'csv-parse/sync';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { nearDuplicateGroups } from '../src/pipeline/near-duplicates.js';
import { similarGroups } from '../src/pipeline/similar-vectors.js';
import { cli, FIXTURES, scratch } from './helpers.js';

function allPairs(images: { key: string; phash: string }[], distance: number): string[][] {
  const parent = images.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  const bits = (a: string, b: string) => [...(BigInt(`0x${a}`) ^ BigInt(`0x${b}`)).toString(2)].filter((c) => c === '1').length;
  for (let a = 0; a < images.length; a += 1) for (let b = a + 1; b < images.length; b += 1) if (bits(images[a]!.phash, images[b]!.phash) <= distance) parent[find(b)] = find(a);
  const groups = new Map<number, string[]>();
  images.forEach((image, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), image.key]));
  return [...groups.values()].filter((keys) => keys.length > 1).map((keys) => keys.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe('near-duplicate search', () => {
  it('finds exactly the groups an all-pairs scan finds', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const hex = () => Array.from({ length: 16 }, () => Math.floor(random() * 16).toString(16)).join('');
    const images: { key: string; phash: string }[] = [];
    for (let i = 0; i < 300; i += 1) {
      const base = hex();
      images.push({ key: `img-${i}`, phash: base });
      // Some images get copies with a few bits flipped.
      if (i % 10 === 0) {
        let value = BigInt(`0x${base}`);
        for (let f = 0; f < 1 + (i % 7); f += 1) value ^= 1n << BigInt(Math.floor(random() * 64));
        images.push({ key: `copy-of-${i}`, phash: value.toString(16).padStart(16, '0') });
      }
    }
    for (const distance of [0, 3, 6, 10]) {
      const found = nearDuplicateGroups(images, distance).map((g) => g.keys).sort((a, b) => a[0]!.localeCompare(b[0]!));
      expect(found, `distance ${distance}`).toEqual(allPairs(images, distance));
    }
  });
});

describe('similar-embedding search', () => {
  /** Embedding-like unit vectors: non-negative, around a shared direction (unrelated pairs score about 0.5). */
  function embeddings(count: number, dims: number, seed: number): Float32Array {
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
    const common = Float32Array.from({ length: dims }, () => random());
    const data = new Float32Array(count * dims);
    for (let i = 0; i < count; i += 1) {
      const row = data.subarray(i * dims, (i + 1) * dims);
      // Every 10th vector is a noisy copy of the one before, at similarities from about 0.8 to 1.
      if (i % 10 === 1) row.set(data.subarray((i - 1) * dims, i * dims).map((v) => v + (0.002 + (i % 7) * 0.004) * gauss()));
      else row.set(row.map((_, k) => Math.max(0, common[k]! * 0.5 + gauss() * 0.6)));
      const norm = Math.hypot(...row);
      for (let k = 0; k < dims; k += 1) row[k]! /= norm;
    }
    return data;
  }

  function allPairs(data: Float32Array, dims: number, threshold: number): number[][] {
    const n = data.length / dims;
    const parent = Array.from({ length: n }, (_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
    for (let a = 0; a < n; a += 1) {
      for (let b = a + 1; b < n; b += 1) {
        let dot = 0;
        for (let k = 0; k < dims; k += 1) dot += data[a * dims + k]! * data[b * dims + k]!;
        if (dot >= threshold) parent[find(b)] = find(a);
      }
    }
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i += 1) groups.set(find(i), [...(groups.get(find(i)) ?? []), i]);
    return [...groups.values()].filter((g) => g.length > 1).sort((a, b) => a[0]! - b[0]!);
  }

  it('finds exactly the groups an exact all-pairs cosine scan finds, planted copies included', () => {
    const dims = 1280;
    const data = embeddings(600, dims, 7);
    for (const threshold of [0.85, 0.9, 0.95]) {
      const expected = allPairs(data, dims, threshold);
      const { groups, stats } = similarGroups(data, dims, threshold);
      expect(groups.map((g) => g.members).sort((a, b) => a[0]! - b[0]!), `threshold ${threshold}`).toEqual(expected);
      // Not an all-pairs scan in disguise: few candidates reach the exact check.
      expect(stats.checked).toBeLessThan(600 * 599 / 2 / 100);
      for (const group of groups) expect(group.minSimilarity).toBeGreaterThanOrEqual(threshold - 0.0005);
    }
    // The planted copies are what there is to find (unrelated vectors score about 0.5).
    expect(allPairs(data, dims, 0.9).length).toBeGreaterThan(20);
  });
});

const LANDSCAPE = path.join(FIXTURES, 'photos', 'landscape.jpg');

/** A ledger of `meta` results for the images `fill` puts into a new folder. */
async function metaLedger(fill: (input: string) => Promise<void>): Promise<string> {
  const work = scratch();
  const input = path.join(work, 'in');
  mkdirSync(input);
  await fill(input);
  const db = path.join(work, 'l.db');
  expect((await cli(['run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'])).code).toBe(0);
  return db;
}

describe('imgpipe duplicates', () => {
  it('groups exact copies, and resized or re-encoded copies as near duplicates, apart from other photos', async () => {
    const db = await metaLedger(async (input) => {
      copyFileSync(LANDSCAPE, path.join(input, 'landscape.jpg'));
      copyFileSync(LANDSCAPE, path.join(input, 'landscape-copy.jpg'));
      await sharp(LANDSCAPE).resize(320).toFile(path.join(input, 'landscape-small.jpg'));
      await sharp(LANDSCAPE).webp({ quality: 40 }).toFile(path.join(input, 'landscape.webp'));
      for (const other of ['dusk.jpg', 'products/mug.webp']) copyFileSync(path.join(FIXTURES, 'photos', other), path.join(input, path.basename(other)));
    });
    const groups = JSON.parse((await cli(['duplicates', '--db', db, '--format', 'json'])).stdout) as { kind: string; keys: string[] }[];
    expect(groups).toEqual([
      { kind: 'exact', keys: ['landscape-copy.jpg', 'landscape.jpg'], distance: 0 },
      { kind: 'near', keys: ['landscape-copy.jpg', 'landscape-small.jpg', 'landscape.jpg', 'landscape.webp'], distance: expect.any(Number) },
    ]);
    const csv = (await cli(['duplicates', '--db', db, '--format', 'csv'])).stdout.trim().split('\n');
    expect(csv[0]).toBe('group,kind,distance,key');
    expect(csv).toHaveLength(1 + 2 + 4);
    const text = await cli(['duplicates', '--db', db]);
    expect(text.stdout).toMatch(/^1 group of exact duplicates, 1 group of near duplicates \(within 6 bits\)/);
    expect((await cli(['duplicates', '--db', db, '--distance', '40'])).code).toBe(2);
  });

  it('CSV keeps a key that a spreadsheet would run as a formula as text, and --csv-raw writes it as stored', async () => {
    const db = await metaLedger(async (input) => {
      copyFileSync(LANDSCAPE, path.join(input, 'plain.jpg'));
      copyFileSync(LANDSCAPE, path.join(input, '=HYPERLINK("evil.example","x").jpg'));
    });
    const keys = async (...extra: string[]) => {
      const result = await cli(['duplicates', '--db', db, '--format', 'csv', ...extra]);
      expect(result.code).toBe(0);
      return (parse(result.stdout, { columns: true }) as { kind: string; key: string }[]).filter((row) => row.kind === 'exact').map((row) => row.key);
    };
    expect(await keys()).toEqual(['\'=HYPERLINK("evil.example","x").jpg', 'plain.jpg']);
    expect(await keys('--csv-raw')).toEqual(['=HYPERLINK("evil.example","x").jpg', 'plain.jpg']);
    const misplaced = await cli(['duplicates', '--db', db, '--csv-raw']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--csv-raw applies to --format csv');
  });

  it('a threshold for a search that does not run is a usage error naming the flag, not silently ignored', async () => {
    const db = path.join(scratch(), 'never.db');
    const cases: [string[], RegExp][] = [
      [['--similarity', '0.95'], /--similarity applies to --by embedding or both/],
      [['--by', 'phash', '--embedding-task', 'style-vec'], /--embedding-task applies to --by embedding or both/],
      [['--by', 'embedding', '--distance', '4'], /--distance applies to --by phash or both/],
    ];
    for (const [flags, message] of cases) {
      const result = await cli(['duplicates', '--db', db, ...flags]);
      expect([result.code, result.stderr], flags.join(' ')).toEqual([2, expect.stringMatching(message)]);
    }
    // Each flag is fine where its search runs (here: exit 2 only because the ledger is missing, not for the flag).
    for (const flags of [['--by', 'both', '--similarity', '0.95', '--distance', '4'], ['--by', 'embedding', '--similarity', '0.95']]) {
      const result = await cli(['duplicates', '--db', db, ...flags]);
      expect(result.stderr, flags.join(' ')).not.toMatch(/applies to/);
    }
  });
});
