/**
 * logos against the made-up brands of fixtures/logos/: a logo on a real photo is found where it
 * is, a brand outside the gallery and a photo without logos yield nothing, a sign whose name OCR
 * reads is found both ways, and brand names match OCR words through slips and aliases.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { LOGO_GALLERY } from '../bench/logo-set.js';
import { matchText, similarity } from '../src/tasks/logos/text.js';
import { cli, FIXTURES, scratch, taskResults } from './helpers.js';

const work = scratch('imgpipe-logos-');
const input = path.join(work, 'in');
const db = path.join(work, 'logos.db');
const PHOTO = path.resolve('node_modules/@vladmandic/face-api/demo/sample1.jpg');
// Where the logos are pasted on the 1024-px photo.
const AT = { left: 80, top: 520 };

async function paste(logo: string, name: string, width = 420): Promise<void> {
  const base = await sharp(PHOTO).resize(1024).toBuffer();
  await sharp(base).composite([{ input: await sharp(logo).resize(width).toBuffer(), ...AT }]).jpeg({ quality: 90 }).toFile(path.join(input, name));
}

beforeAll(async () => {
  mkdirSync(input, { recursive: true });
  await paste(path.join(LOGO_GALLERY, 'orbital', 'logo.png'), 'orbital.jpg');
  await paste(path.join(FIXTURES, 'logos', 'distractors', 'voltara.png'), 'voltara.jpg');
  await sharp(PHOTO).resize(1024).jpeg({ quality: 90 }).toFile(path.join(input, 'no-logo.jpg'));
  // A sign: the wordmark large on white, as on a shop front or a product box.
  await sharp({ create: { width: 900, height: 400, channels: 3, background: '#ffffff' } })
    .composite([{ input: await sharp(path.join(LOGO_GALLERY, 'zephyra', 'logo.png')).resize(700).toBuffer(), left: 100, top: 120 }])
    .png()
    .toFile(path.join(input, 'sign.png'));
  // Degenerate sizes: a 10000x10 strip (searched at 1024x1) and a single pixel.
  await sharp({ create: { width: 10000, height: 10, channels: 3, background: '#336699' } }).png().toFile(path.join(input, 'strip.png'));
  await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(path.join(input, 'dot.png'));
  const run = await cli(['run', input, '--tasks', 'logos,ocr', '--logos-from', LOGO_GALLERY, '--db', db, '--quiet']);
  expect(run.code, run.stderr).toBe(0);
}, 300_000);

describe('logos', () => {
  it('finds a gallery logo on a photo, in the right place', () => {
    const [logo, ...others] = taskResults(db, 'logos').get('orbital.jpg').logos;
    expect(others).toEqual([]);
    expect(logo).toMatchObject({ brand: 'orbital', method: 'visual' });
    expect(logo.score).toBeGreaterThanOrEqual(0.25);
    // The pasted logo is 420 x 100 at (80, 520).
    expect(Math.abs(logo.box.x - AT.left)).toBeLessThan(15);
    expect(Math.abs(logo.box.y - AT.top)).toBeLessThan(15);
    expect(Math.abs(logo.box.width - 420)).toBeLessThan(30);
  });

  it('reports nothing for a brand outside the gallery or a photo without logos', () => {
    const results = taskResults(db, 'logos');
    expect(results.get('voltara.jpg')).toEqual({ count: 0, logos: [], textSearched: true });
    expect(results.get('no-logo.jpg').logos).toEqual([]);
  });

  it('answers "no logos" for an image too small to show one (a 10000x10 strip, one pixel), not an OpenCV error', () => {
    const results = taskResults(db, 'logos');
    for (const key of ['strip.png', 'dot.png']) expect(results.get(key), key).toEqual({ count: 0, logos: [], textSearched: true });
  });

  it('finds a sign both by its picture and by its name in the OCR text', () => {
    const sign = taskResults(db, 'logos').get('sign.png');
    expect(sign.logos).toHaveLength(1);
    expect(sign.logos[0]).toMatchObject({ brand: 'zephyra', method: 'visual+text', text: 'ZEPHYRA' });
  });

  it('matches brand names in OCR words through slips, spaces and aliases', () => {
    const brands = [
      { name: 'nordwind', files: [], names: ['nordwind'] },
      { name: 'kaffeko', files: [], names: ['kaffeko', 'Kaffe Ko'] },
    ];
    const word = (text: string, x: number, confidence = 90) => ({ text, confidence, box: { x, y: 10, width: 50, height: 20 } });
    const found = matchText([[word('N0RDWIND', 0)], [word('kaffe', 0), word('ko', 60)], [word('weather', 0), word('nord', 100)]], brands, 0.8);
    expect(found.map((m) => [m.brand, m.text])).toEqual([
      ['kaffeko', 'kaffe ko'],
      ['nordwind', 'N0RDWIND'],
    ]);
    expect(found.find((m) => m.brand === 'kaffeko')!.box).toEqual({ x: 0, y: 10, width: 110, height: 20 });
    expect(similarity('nordwind', 'n0rdwind')).toBeCloseTo(0.875, 3);
  });

  it('needs a usable gallery, before any work', async () => {
    const none = await cli(['run', input, '--tasks', 'logos', '--db', path.join(work, 'x.db')]);
    expect([none.code, none.stderr]).toEqual([2, "imgpipe: error: --logos-from (required by task 'logos'): expected a folder path (the brand gallery: DIR/<brand>/*.png|jpg|webp, optional DIR/<brand>/aliases.txt), got nothing\n"]);
    // With a config file, the message names its key as well: the gallery may be given there.
    const config = path.join(work, 'logos-config.json');
    writeFileSync(config, JSON.stringify({ tasks: 'logos' }));
    const viaConfig = await cli(['run', input, '--config', config, '--db', path.join(work, 'x.db')]);
    expect([viaConfig.code, viaConfig.stderr]).toEqual([2, expect.stringMatching(/^imgpipe: error: --logos-from \(or --config logosFrom\) \(required by task 'logos'\): expected a folder path/)]);
    const empty = path.join(work, 'empty-gallery', 'brand');
    mkdirSync(empty, { recursive: true });
    const bad = await cli(['run', input, '--tasks', 'logos', '--logos-from', path.dirname(empty), '--db', path.join(work, 'x.db')]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/brand folder brand\/ has no \.jpg, \.png or \.webp reference images/)]);
  });
});
