/** objects with CenterNet on real photos: people and everyday things, boxes in upright pixels. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, query, ROOT, scratch } from './helpers.js';

const SAMPLES = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');

describe('objects', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  let results: Map<string, any>;

  beforeAll(async () => {
    mkdirSync(input);
    for (const name of ['sample1.jpg', 'sample2.jpg']) await sharp(path.join(SAMPLES, name)).resize(960).toFile(path.join(input, name));
    await sharp(path.join(SAMPLES, 'sample1.jpg')).resize(960).rotate(90).withMetadata({ orientation: 8 }).toFile(path.join(input, 'sample1-rotated.jpg'));
    const db = path.join(work, 'l.db');
    const run = await cli(['run', input, '--tasks', 'objects', '--db', db, '--out', path.join(work, 'out'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'objects'");
    results = new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
  });

  it('finds the three people and the wine glass in one photo, people and the phone in another', () => {
    expect(results.get('sample1.jpg').counts).toMatchObject({ person: 3, 'wine glass': 1 });
    // Moderate recall on people (scores 0.3 to 0.7): at least two of the three, and the phone in a hand.
    expect(results.get('sample2.jpg').counts.person).toBeGreaterThanOrEqual(2);
    expect(results.get('sample2.jpg').counts['cell phone']).toBeGreaterThanOrEqual(1);
    for (const result of results.values()) {
      for (const object of result.objects) {
        expect(object.score).toBeGreaterThanOrEqual(0.3);
        expect(object.box.x).toBeGreaterThanOrEqual(-1);
        expect(object.box.x + object.box.width).toBeLessThanOrEqual(result.width + 1);
        expect(object.box.y + object.box.height).toBeLessThanOrEqual(result.height + 1);
      }
    }
  });

  it('reports the same people, in upright coordinates, for an EXIF-rotated copy', () => {
    const upright = results.get('sample1.jpg');
    const rotated = results.get('sample1-rotated.jpg');
    expect([rotated.width, rotated.height]).toEqual([upright.width, upright.height]);
    expect(rotated.counts.person).toBe(3);
    const people = (r: any) => r.objects.filter((o: any) => o.label === 'person').map((o: any) => o.box.x + o.box.width / 2).sort((a: number, b: number) => a - b);
    people(upright).forEach((x: number, i: number) => expect(Math.abs(x - people(rotated)[i]!)).toBeLessThan(40));
  });
});
