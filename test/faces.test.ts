/** faces and anonymize with real detectors on real photos (the face-api demo pictures, MIT). */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURES, query, ROOT, scratch } from './helpers.js';

const SAMPLES = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
/** People in each demo photo, counted by eye. */
const PEOPLE: Record<string, number> = { 'sample1.jpg': 3, 'sample2.jpg': 3, 'sample3.jpg': 3, 'sample4.jpg': 4, 'sample5.jpg': 5, 'sample6.jpg': 4 };

function results(db: string, task: string): Map<string, any> {
  const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = ? AND j.state = 'done'", task);
  return new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
}

async function meanAbsDiff(a: string, b: string, region?: { left: number; top: number; width: number; height: number }): Promise<number> {
  const load = (file: string) => (region ? sharp(file).extract(region) : sharp(file)).removeAlpha().raw().toBuffer();
  const [x, y] = await Promise.all([load(a), load(b)]);
  let sum = 0;
  for (let i = 0; i < x.length; i += 1) sum += Math.abs(x[i]! - y[i]!);
  return sum / x.length;
}

describe('faces and anonymize', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const out = path.join(work, 'out');
  const db = path.join(work, 'l.db');
  let faces: Map<string, any>;
  let anonymized: Map<string, any>;

  beforeAll(async () => {
    mkdirSync(input);
    // Smaller copies keep the suite quick; detection runs at 1024 px anyway.
    for (const name of Object.keys(PEOPLE)) await sharp(path.join(SAMPLES, name)).resize(1280).jpeg({ quality: 90 }).toFile(path.join(input, name));
    await sharp(path.join(SAMPLES, 'sample1.jpg')).resize(1280).rotate(270).jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toFile(path.join(input, 'sample1-rotated.jpg'));
    await sharp(path.join(FIXTURES, 'photos', 'landscape.jpg')).toFile(path.join(input, 'no-people.jpg'));
    const run = await cli(['run', input, '--tasks', 'anonymize', '--db', db, '--out', out, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    faces = results(db, 'faces');
    anonymized = results(db, 'anonymize');
  });

  it('finds every person in the demo photos (22 faces, accurate model) and none in a landscape', () => {
    for (const [name, people] of Object.entries(PEOPLE)) expect(faces.get(name).count, name).toBe(people);
    expect(faces.get('no-people.jpg')).toMatchObject({ count: 0, model: 'accurate' });
  });

  it('the fast model (BlazeFace) finds them too, with six landmarks inside each face box', async () => {
    const ledger = path.join(work, 'fast.db');
    const run = await cli(['run', input, '--tasks', 'faces', '--faces-model', 'fast', '--db', ledger, '--out', out, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const fast = results(ledger, 'faces');
    for (const [name, people] of Object.entries(PEOPLE)) expect(fast.get(name).count, name).toBe(people);
    expect(fast.get('no-people.jpg').count).toBe(0);
    for (const face of fast.get('sample5.jpg').faces.filter((f: any) => f.score >= 0.5)) {
      expect(face.landmarks).toHaveLength(6);
      const [eyeX, eyeY] = face.landmarks[0];
      expect(eyeX).toBeGreaterThan(face.box.x);
      expect(eyeX).toBeLessThan(face.box.x + face.box.width);
      expect(eyeY).toBeGreaterThan(face.box.y);
      expect(eyeY).toBeLessThan(face.box.y + face.box.height);
    }
  });

  it('finds the same faces on an EXIF-rotated copy, in upright coordinates', () => {
    const upright = faces.get('sample1.jpg');
    const rotated = faces.get('sample1-rotated.jpg');
    expect([rotated.width, rotated.height]).toEqual([upright.width, upright.height]);
    expect(rotated.count).toBe(upright.count);
    const byX = (result: any) => result.faces.filter((f: any) => f.score >= 0.5).map((f: any) => f.box).sort((a: any, b: any) => a.x - b.x);
    const [a, b] = [byX(upright), byX(rotated)];
    for (let i = 0; i < a.length; i += 1) {
      for (const side of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(a[i][side] - b[i][side]), `face ${i} ${side}`).toBeLessThan(a[i].width * 0.15);
    }
  });

  it('anonymize changes each face region strongly and the rest of the picture barely, upright and without metadata', async () => {
    for (const name of ['sample1.jpg', 'sample5.jpg']) {
      const result = anonymized.get(name);
      expect(result.hidden).toBeGreaterThanOrEqual(PEOPLE[name]!);
      const original = path.join(input, name);
      const written = path.join(out, result.output);
      for (const region of result.regions) expect(await meanAbsDiff(original, written, region), `${name} face`).toBeGreaterThan(8);
      // A strip along the top edge holds no face in these photos: only re-encoding noise there.
      const outside = { left: 0, top: 0, width: 1280, height: Math.min(...result.regions.map((r: any) => r.top)) - 1 };
      expect(await meanAbsDiff(original, written, outside), `${name} background`).toBeLessThan(3);
      const header = await sharp(written).metadata();
      expect([header.exif, header.orientation, header.format]).toEqual([undefined, undefined, 'jpeg']);
    }
    const rotated = await sharp(path.join(out, anonymized.get('sample1-rotated.jpg').output)).metadata();
    expect([rotated.width, rotated.height]).toEqual([1280, faces.get('sample1.jpg').height]);
    expect(anonymized.get('no-people.jpg')).toMatchObject({ hidden: 0 });
  });

  it('sees a transparent PNG as a viewer does: faces drawn by alpha alone are found, faces under fully transparent pixels are not', async () => {
    const local = scratch();
    const one = path.join(local, 'in');
    mkdirSync(one);
    const { data, info } = await sharp(path.join(SAMPLES, 'sample1.jpg')).resize(480).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    // Ink: black everywhere, the picture carried by alpha (as line art or a scan's ink layer is).
    const ink = Buffer.alloc(data.length);
    for (let i = 0; i < data.length; i += 4) ink[i + 3] = 255 - Math.round(0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!);
    await sharp(ink, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toFile(path.join(one, 'ink.png'));
    // The right-hand person erased to full transparency, the pixels under it left as they were.
    const erased = Buffer.from(data);
    for (let y = 0; y < info.height; y++) for (let x = 330; x < info.width; x++) erased[(y * info.width + x) * 4 + 3] = 0;
    await sharp(erased, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toFile(path.join(one, 'erased.png'));
    for (const model of ['accurate', 'fast']) {
      const ledger = path.join(local, `${model}.db`);
      const run = await cli(['run', one, '--tasks', 'anonymize', '--faces-model', model, '--db', ledger, '--out', path.join(local, model), '--quiet']);
      expect(run.code, run.stderr).toBe(0);
      const found = results(ledger, 'faces');
      expect(found.get('ink.png').count, model).toBe(3);
      expect(results(ledger, 'anonymize').get('ink.png').hidden, model).toBe(3);
      const visible = found.get('erased.png');
      expect(visible.count, model).toBe(2);
      for (const face of visible.faces.filter((f: any) => f.score >= 0.5)) expect(face.box.x + face.box.width / 2, model).toBeLessThan(330);
    }
  });

  it('fills faces with a colour, or pixelates them, on request', async () => {
    const local = scratch();
    const one = path.join(local, 'in');
    mkdirSync(one);
    await sharp(path.join(input, 'sample1.jpg')).png().toFile(path.join(one, 'group.png'));
    for (const mode of ['fill', 'pixelate']) {
      const ledger = path.join(local, `${mode}.db`);
      const run = await cli(['run', one, '--tasks', 'anonymize', '--anonymize-mode', mode, '--anonymize-colour', '#00ff00', '--db', ledger, '--out', path.join(local, mode), '--quiet']);
      expect(run.code, run.stderr).toBe(0);
      const result = results(ledger, 'anonymize').get('group.png');
      expect(result.output).toBe('anonymize/group.png');
      const region = result.regions[0];
      const { data } = await sharp(path.join(local, mode, result.output)).extract(region).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      if (mode === 'fill') expect([data[0], data[1], data[2]]).toEqual([0, 255, 0]);
      else {
        // Blocks: neighbouring pixels inside a block are identical.
        expect([data[3], data[4], data[5]]).toEqual([data[0], data[1], data[2]]);
      }
    }
  });
});

describe('anonymize after its faces change', () => {
  it('another faces model redoes faces and anonymize with it, now and in a later run: never regions from the faces of before', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(input);
    await sharp(path.join(SAMPLES, 'sample2.jpg')).resize(640).jpeg({ quality: 90 }).toFile(path.join(input, 'people.jpg'));
    const db = path.join(work, 'l.db');
    const args = ['run', input, '--db', db, '--out', path.join(work, 'out'), '--json'];
    const tasksOf = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!).tasks;
    // Each hidden region is a face box grown by the margin: its centre is the box's.
    const centres = (regions: { left: number; top: number; width: number; height: number }[]) => regions.map((r) => [r.left + r.width / 2, r.top + r.height / 2]);
    const matches = (model: string) => {
      const face = results(db, 'faces').get('people.jpg');
      expect(face.model).toBe(model);
      const hiding = face.faces.filter((f: { score: number }) => f.score >= 0.3);
      const hidden = results(db, 'anonymize').get('people.jpg');
      expect(hidden.hidden).toBe(hiding.length);
      const expected = centres(hiding.map((f: { box: { x: number; y: number; width: number; height: number } }) => ({ left: f.box.x, top: f.box.y, width: f.box.width, height: f.box.height })));
      for (const [x, y] of centres(hidden.regions)) expect(expected.some(([ex, ey]) => Math.hypot(ex! - x!, ey! - y!) < 4)).toBe(true);
    };

    expect((await cli([...args, '--tasks', 'anonymize'])).code).toBe(0);
    matches('accurate');
    const fast = await cli([...args, '--tasks', 'anonymize', '--faces-model', 'fast']);
    expect(tasksOf(fast.stdout)).toMatchObject({ faces: { done: 1 }, anonymize: { done: 1, alreadyDone: 0 } });
    matches('fast');
    // faces alone, then anonymize: still redone, for the faces it was computed from are gone.
    expect(tasksOf((await cli([...args, '--tasks', 'faces'])).stdout)).toMatchObject({ faces: { done: 1 } });
    expect(tasksOf((await cli([...args, '--tasks', 'anonymize'])).stdout)).toMatchObject({ faces: { alreadyDone: 1 }, anonymize: { done: 1 } });
    matches('accurate');
    // And nothing else: unchanged, both stay done.
    expect(tasksOf((await cli([...args, '--tasks', 'anonymize'])).stdout)).toMatchObject({ faces: { alreadyDone: 1 }, anonymize: { alreadyDone: 1 } });
  });
});
