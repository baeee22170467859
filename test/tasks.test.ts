/** The preprocess and meta tasks on real pixels, through the real CLI. */
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURES, query, scratch, sha256File } from './helpers.js';

type Rgb = [number, number, number];
const QUADRANTS: Record<string, Rgb> = { topLeft: [255, 0, 0], topRight: [0, 200, 0], bottomLeft: [0, 0, 255], bottomRight: [255, 255, 255] };

async function pixelAt(file: string, x: number, y: number): Promise<Rgb> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * info.channels;
  return [data[i]!, data[i + 1]!, data[i + 2]!];
}

function near(actual: Rgb, expected: Rgb, tolerance = 40): boolean {
  return actual.every((v, i) => Math.abs(v - expected[i]!) <= tolerance);
}

function resultsByKey(db: string, task: string): Map<string, any> {
  const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = ? AND j.state = 'done'", task);
  return new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
}

describe('preprocess and meta on the fixtures', () => {
  const work = scratch();
  const db = path.join(work, 'ledger.db');
  const out = path.join(work, 'out');
  let preprocess: Map<string, any>;
  let meta: Map<string, any>;

  beforeAll(async () => {
    const result = await cli(['run', path.join(FIXTURES, 'orientation'), path.join(FIXTURES, 'photos'), path.join(FIXTURES, 'colours'), '--tasks', 'preprocess,meta', '--db', db, '--out', out, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    preprocess = resultsByKey(db, 'preprocess');
    meta = resultsByKey(db, 'meta');
  });

  it('writes every EXIF orientation (1-8) upright, with the orientation tag gone', async () => {
    for (let tag = 1; tag <= 8; tag += 1) {
      const file = path.join(out, 'preprocess', `${tag}.jpg`);
      const header = await sharp(file).metadata();
      expect([header.width, header.height, header.orientation ?? 1], `orientation ${tag}`).toEqual([120, 80, 1]);
      expect(near(await pixelAt(file, 15, 10), QUADRANTS.topLeft!), `orientation ${tag} top-left`).toBe(true);
      expect(near(await pixelAt(file, 105, 10), QUADRANTS.topRight!), `orientation ${tag} top-right`).toBe(true);
      expect(near(await pixelAt(file, 15, 70), QUADRANTS.bottomLeft!), `orientation ${tag} bottom-left`).toBe(true);
      expect(near(await pixelAt(file, 105, 70), QUADRANTS.bottomRight!), `orientation ${tag} bottom-right`).toBe(true);
      expect(preprocess.get(`${tag}.jpg`)).toMatchObject({ output: `preprocess/${tag}.jpg`, before: { width: 120, height: 80 }, after: { width: 120, height: 80 } });
      expect(meta.get(`${tag}.jpg`)).toMatchObject({ width: 120, height: 80, orientation: tag });
    }
  });

  it('fits large images inside the max size, converts to sRGB, strips GPS, and leaves inputs unchanged', async () => {
    const portrait = preprocess.get('portrait-rotated.jpg');
    expect(portrait).toMatchObject({ before: { width: 427, height: 640 }, after: { width: 427, height: 640 } });
    const p3 = path.join(out, 'preprocess', 'wide-gamut-p3.jpg');
    const p3Header = await sharp(p3).metadata();
    expect(p3Header.icc).toBeUndefined();
    expect(p3Header.space).toBe('srgb');
    const gps = await sharp(path.join(out, 'preprocess', 'camera-gps.jpg')).metadata();
    expect(gps.exif).toBeUndefined();
    // Transparent PNG -> JPEG: flattened on white, written beside its name.
    const logo = path.join(out, 'preprocess', 'products', 'logo-transparent.png.jpg');
    expect(await pixelAt(logo, 2, 2)).toEqual([255, 255, 255]);
    expect(sha256File(path.join(FIXTURES, 'photos', 'camera-gps.jpg'))).toBe(meta.get('camera-gps.jpg').sha256);
  });

  it('keeps camera EXIF without GPS when asked, and resizes to --preprocess-max-size', async () => {
    const local = scratch();
    const result = await cli(['run', path.join(FIXTURES, 'photos', 'camera-gps.jpg'), '--tasks', 'preprocess', '--preprocess-metadata', 'keep-no-gps', '--preprocess-max-size', '200', '--preprocess-format', 'webp', '--db', path.join(local, 'l.db'), '--out', local, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    const file = path.join(local, 'preprocess', 'camera-gps.jpg.webp');
    const header = await sharp(file).metadata();
    expect([header.format, header.width, header.height]).toEqual(['webp', 200, 133]);
    const exif = header.exif!.toString('latin1');
    expect(exif).toContain('Fixture Cam 1');
    const { summariseExif } = await import('../src/tasks/meta/exif.js');
    expect(summariseExif(header.exif)).toMatchObject({ model: 'Fixture Cam 1', gps: false });
    const original = await sharp(path.join(FIXTURES, 'photos', 'camera-gps.jpg')).metadata();
    expect(summariseExif(original.exif)).toMatchObject({ gps: true });
  });

  it('names a pure red image red, and a half red, half blue one both', () => {
    expect(meta.get('red.png').colours).toEqual([{ hex: '#ff0000', rgb: [255, 0, 0], share: 1, name: 'red' }]);
    const halves = meta.get('red-blue.png').colours.map((c: any) => [c.name, c.share]);
    expect(halves).toEqual(expect.arrayContaining([['red', 0.5], ['blue', 0.5]]));
  });

  it('reports size upright, EXIF facts, hashes, and flags the blurry photo only', () => {
    expect(meta.get('portrait-rotated.jpg')).toMatchObject({ width: 427, height: 640, storedWidth: 640, storedHeight: 427, orientation: 6 });
    expect(meta.get('camera-gps.jpg').exif).toMatchObject({ make: 'Imgpipe', model: 'Fixture Cam 1', takenAt: '2024-05-17T14:03:22', gps: true });
    expect(meta.get('camera-gps.jpg').exif.latitude).toBeCloseTo(48.8582, 3);
    expect(meta.get('wide-gamut-p3.jpg').icc).toBe(true);
    expect(meta.get('products/logo-transparent.png')).toMatchObject({ format: 'png', alpha: true });
    expect(meta.get('landscape.jpg').phash).toMatch(/^[0-9a-f]{16}$/);
    expect(meta.get('blurry.jpg').blurry).toBe(true);
    for (const sharpPhoto of ['landscape.jpg', 'dusk.jpg', 'camera-gps.jpg', 'products/mug.webp']) expect(meta.get(sharpPhoto).blurry, sharpPhoto).toBe(false);
    // Flat colour has nothing to focus on: not called blurry.
    expect(meta.get('red.png').blurry).toBeNull();
    expect(meta.get('landscape.jpg').brightness).toBeGreaterThan(meta.get('dusk.jpg').brightness);
  });

  it('status reports exact duplicates (same sha256)', async () => {
    const local = scratch();
    const ledger = path.join(local, 'l.db');
    await cli(['run', path.join(FIXTURES, 'broken'), path.join(FIXTURES, 'photos'), '--tasks', 'meta', '--db', ledger, '--out', local, '--quiet']);
    const status = await cli(['status', '--db', ledger, '--json']);
    const report = JSON.parse(status.stdout);
    expect(report.duplicates.groups).toBe(1);
    expect(report.duplicates.top[0].keys).toEqual(['good.jpg', 'landscape.jpg']);
    const text = await cli(['status', '--db', ledger]);
    expect(text.stdout).toMatch(/exact duplicates \(same sha256\): 1 group, 2 images/);
    expect(text.stdout).toMatch(/meta E_DECODE: 3/);
  });
});
