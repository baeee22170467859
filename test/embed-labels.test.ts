/**
 * embed, labels and similar images with the real models on real pixels: embeddings of a photo
 * and its re-cropped copy are close and unrelated photos are not; vectors are float32 BLOBs that
 * merge and export carry; labels come from the right sources; examples in --labels-from label
 * held-out images; the ledger migrates from schema 1.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/pipeline/ledger-schema.js';
import { cli, FIXTURES, query, ROOT, scratch, summaryOf } from './helpers.js';

// Real photos of people, shipped by an npm package (MIT): the face-api demo pictures.
const SAMPLES = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');

type Label = { name: string; confidence: number; source: string; sources: string[] };

function cosine(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += a[i]! * b[i]!;
  return sum;
}

describe('embed, labels and similar images', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const gallery = path.join(work, 'gallery');
  const db = path.join(work, 'l.db');
  const out = path.join(work, 'out');
  const args = ['run', input, '--tasks', 'labels,ocr', '--labels-from', gallery, '--db', db, '--out', out, '--json'];
  let vectors: Map<string, Float32Array>;
  let labels: Map<string, { labels: Label[]; examples: Record<string, number> }>;

  beforeAll(async () => {
    mkdirSync(input);
    // Held out: the gallery has other photos of people, and another rendered landscape.
    copyFileSync(path.join(SAMPLES, 'sample5.jpg'), path.join(input, 'people.jpg'));
    const { width, height } = await sharp(path.join(SAMPLES, 'sample5.jpg')).metadata();
    await sharp(path.join(SAMPLES, 'sample5.jpg'))
      .extract({ left: Math.round(width! * 0.06), top: Math.round(height! * 0.08), width: Math.round(width! * 0.86), height: Math.round(height! * 0.84) })
      .resize(360)
      .jpeg({ quality: 70 })
      .toFile(path.join(input, 'people-cropped.jpg'));
    await sharp(path.join(SAMPLES, 'sample5.jpg')).resize(Math.round(width! / 2)).jpeg({ quality: 60 }).toFile(path.join(input, 'people-small.jpg'));
    copyFileSync(path.join(FIXTURES, 'photos', 'dusk.jpg'), path.join(input, 'dusk.jpg'));
    copyFileSync(path.join(FIXTURES, 'colours', 'red-blue.png'), path.join(input, 'flat-drawing.png'));
    copyFileSync(path.join(FIXTURES, 'documents', 'page.png'), path.join(input, 'page.png'));
    await sharp(path.join(FIXTURES, 'photos', 'landscape.jpg')).linear(0.15, 0).toFile(path.join(input, 'dark.jpg'));
    for (const [label, files] of [['people', [path.join(SAMPLES, 'sample1.jpg'), path.join(SAMPLES, 'sample2.jpg')]], ['scenery', [path.join(FIXTURES, 'photos', 'landscape.jpg')]]] as const) {
      mkdirSync(path.join(gallery, label), { recursive: true });
      for (const file of files) copyFileSync(file, path.join(gallery, label, path.basename(file)));
    }

    const run = await cli(args);
    expect(run.code, run.stderr).toBe(0);
    const rows = query<{ key: string; task: string; result: string; vector: Buffer | null }>(db, "SELECT i.key, j.task, j.result, j.vector FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task IN ('embed', 'labels')");
    vectors = new Map(rows.filter((r) => r.task === 'embed').map((r) => [r.key, new Float32Array(new Uint8Array(r.vector!).buffer)]));
    labels = new Map(rows.filter((r) => r.task === 'labels').map((r) => [r.key, JSON.parse(r.result)]));
  });

  it('stores each embedding as a BLOB of 1280 float32 of unit length, and a small JSON result', () => {
    const stored = query<{ type: string; bytes: number; result: string }>(db, "SELECT typeof(vector) AS type, length(vector) AS bytes, result FROM jobs WHERE task = 'embed'");
    expect(stored).toHaveLength(7);
    for (const row of stored) {
      expect(row).toMatchObject({ type: 'blob', bytes: 1280 * 4 });
      expect(JSON.parse(row.result)).toEqual({ model: 'nsfwjs-mobilenet-v2', layer: 'flatten_1', dims: 1280, norm: expect.any(Number) });
    }
    for (const vector of vectors.values()) expect(Math.sqrt(cosine(vector, vector))).toBeCloseTo(1, 4);
    // No other task has a vector.
    expect(query(db, "SELECT count(*) AS n FROM jobs WHERE task <> 'embed' AND vector IS NOT NULL")).toEqual([{ n: 0 }]);
  });

  it('puts a resized copy very close, a re-cropped copy close, and unrelated photos far', () => {
    const similarity = (key: string) => cosine(vectors.get('people.jpg')!, vectors.get(key)!);
    expect(similarity('people-small.jpg')).toBeGreaterThan(0.95);
    expect(similarity('people-cropped.jpg')).toBeGreaterThan(0.8);
    for (const unrelated of ['dusk.jpg', 'page.png', 'flat-drawing.png', 'dark.jpg']) expect(similarity(unrelated), unrelated).toBeLessThan(0.6);
  });

  it('imgpipe duplicates --by embedding groups the copies with their original and nothing else', async () => {
    const result = await cli(['duplicates', '--db', db, '--by', 'embedding', '--format', 'json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([{ kind: 'similar', keys: ['people-small.jpg', 'people.jpg'], similarity: expect.any(Number) }]);
    // A re-crop needs a lower threshold (90 % crops of the face-api photos score 0.87-0.96; this one is also resized to 360 px).
    const loose = JSON.parse((await cli(['duplicates', '--db', db, '--by', 'embedding', '--similarity', '0.85', '--format', 'json'])).stdout);
    expect(loose).toEqual([{ kind: 'similar', keys: ['people-cropped.jpg', 'people-small.jpg', 'people.jpg'], similarity: expect.any(Number) }]);
    const csv = (await cli(['duplicates', '--db', db, '--by', 'both', '--format', 'csv'])).stdout.trim().split('\n');
    expect(csv[0]).toBe('group,kind,distance,similarity,key');
    expect(csv.filter((line) => line.includes(',similar,'))).toHaveLength(2);
    expect(csv.filter((line) => line.includes(',near,')).length).toBeGreaterThanOrEqual(2);
    expect((await cli(['duplicates', '--db', db, '--by', 'embedding', '--similarity', '0.3'])).code).toBe(2);
    expect((await cli(['duplicates', '--db', db, '--by', 'pixels'])).code).toBe(2);
  });

  it('labels people and faces, a drawing, colours, a dark image and text, each from its source', () => {
    const of = (key: string) => labels.get(key)!.labels;
    const named = (key: string, name: string) => of(key).filter((l) => l.name === name);
    expect(named('people.jpg', 'face')).toEqual([{ name: 'face', confidence: expect.any(Number), source: 'faces', sources: ['faces'] }]);
    // Five faces at about 0.99 are the strongest evidence of a person, whatever objects found (0.3-0.7 on people).
    expect(named('people.jpg', 'person')).toEqual([{ name: 'person', confidence: named('people.jpg', 'face')[0]!.confidence, source: 'faces', sources: expect.arrayContaining(['faces']) }]);
    expect(named('people.jpg', 'photo')).toMatchObject([{ source: 'nsfw' }]);
    expect(named('flat-drawing.png', 'drawing')).toMatchObject([{ source: 'nsfw' }]);
    expect(named('flat-drawing.png', 'drawing')[0]!.confidence).toBeGreaterThan(0.8);
    expect(of('flat-drawing.png').filter((l) => l.source === 'meta' && ['red', 'blue'].includes(l.name)).map((l) => l.name).sort()).toEqual(['blue', 'red']);
    expect(named('flat-drawing.png', 'face')).toEqual([]);
    expect(named('dark.jpg', 'dark')).toEqual([{ name: 'dark', confidence: 1, source: 'meta', sources: ['meta'] }]);
    expect(named('dusk.jpg', 'dark')).toEqual([]);
    // Text only where ocr read some: the run included ocr, so labels used it.
    expect(named('page.png', 'text')).toMatchObject([{ source: 'ocr' }]);
    expect(named('page.png', 'text')[0]!.confidence).toBeGreaterThan(0.8);
    expect(named('people.jpg', 'text')).toEqual([]);
    for (const [key, result] of labels) {
      const names = result.labels.map((l) => l.name);
      expect(new Set(names).size, `${key}: ${names.join(', ')}`).toBe(names.length);
      for (const label of result.labels) expect(label.sources[0], `${key} ${label.name}`).toBe(label.source);
      expect(result.labels.filter((l) => ['landscape', 'portrait', 'square'].includes(l.name)), key).toHaveLength(1);
      for (const label of result.labels) expect(label.confidence, `${key} ${label.name}`).toBeGreaterThan(0);
    }
  });

  it('--labels-from gives held-out images the label of their nearest examples, and not the others', () => {
    const examples = (key: string) => labels.get(key)!.labels.filter((l) => l.sources.includes('examples')).map((l) => l.name);
    expect(examples('people.jpg')).toEqual(['people']);
    // The examples' people and the faces' people are one label, the faces' (five faces) the stronger.
    expect(labels.get('people.jpg')!.labels.filter((l) => l.name === 'people')).toEqual([{ name: 'people', confidence: expect.any(Number), source: 'faces', sources: expect.arrayContaining(['faces', 'examples']) }]);
    expect(examples('dusk.jpg')).toEqual(['scenery']);
    expect(labels.get('people.jpg')!.examples.scenery).toBeLessThan(0.4);
    expect(labels.get('dusk.jpg')!.examples.people).toBeLessThan(0.5);
  });

  it('a changed gallery redoes only labels; a bad --labels-from is a usage error before any work', async () => {
    copyFileSync(path.join(SAMPLES, 'sample3.jpg'), path.join(gallery, 'people', 'sample3.jpg'));
    const again = summaryOf((await cli(args)).stdout);
    expect(again.tasks.labels).toMatchObject({ done: 7, alreadyDone: 0 });
    expect(again.tasks.embed).toMatchObject({ done: 0, alreadyDone: 7 });

    const fresh = path.join(work, 'never.db');
    const missing = await cli(['run', input, '--tasks', 'labels', '--labels-from', path.join(work, 'nowhere'), '--db', fresh]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/--labels-from .*nowhere: cannot read it/)]);
    mkdirSync(path.join(work, 'bad', 'empty-label'), { recursive: true });
    const empty = await cli(['run', input, '--tasks', 'labels', '--labels-from', path.join(work, 'bad'), '--db', fresh]);
    expect([empty.code, empty.stderr]).toEqual([2, expect.stringMatching(/--labels-from .*: label folder empty-label\/ has no \.jpg, \.png or \.webp examples/)]);
    expect(existsSync(fresh)).toBe(false);
  });

  it('merge carries vectors, and export --vectors writes them as base64 float32', async () => {
    const merged = path.join(work, 'merged.db');
    expect((await cli(['merge', merged, db])).code).toBe(0);
    const blobs = (file: string) => query<{ key: string; vector: Buffer }>(file, "SELECT i.key, j.vector FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'embed' ORDER BY i.key");
    expect(blobs(merged)).toEqual(blobs(db));
    const lines = (await cli(['export', '--db', db, '--task', 'embed', '--vectors'])).stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(7);
    for (const line of lines) expect(new Float32Array(new Uint8Array(Buffer.from(line.vector, 'base64')).buffer)).toEqual(vectors.get(line.key));
    const plain = JSON.parse((await cli(['export', '--db', db, '--task', 'embed'])).stdout.split('\n')[0]!);
    expect(plain).not.toHaveProperty('vector');
  });
});

describe('ledger schema', () => {
  it('migrates a schema-1 ledger, keeping its results, to the current schema (vectors, suspects)', async () => {
    const work = scratch();
    const db = path.join(work, 'old.db');
    const old = new Database(db);
    old.exec(MIGRATIONS[0]!);
    old.pragma('application_id = 0x696d6770');
    old.pragma('user_version = 1');
    old.prepare("INSERT INTO images (id, key, path) VALUES (1, 'kept.jpg', '/nowhere/kept.jpg')").run();
    old.prepare("INSERT INTO jobs (image_id, task, state, result) VALUES (1, 'meta', 'done', '{\"kept\":true}')").run();
    old.close();
    const status = await cli(['status', '--db', db]);
    expect([status.code, status.stderr]).toEqual([2, expect.stringMatching(/schema version 1; run imgpipe run on it once to upgrade it/)]);
    const run = await cli(['run', path.join(FIXTURES, 'colours'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    expect(query(db, 'PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
    expect(query<{ name: string }>(db, 'PRAGMA table_info(jobs)').map((c) => c.name)).toContain('vector');
    expect(query(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'suspects'")).toEqual([{ name: 'suspects' }]);
    expect(query(db, "SELECT result FROM jobs WHERE task = 'meta' AND image_id = 1")).toEqual([{ result: '{"kept":true}' }]);
  });
});
