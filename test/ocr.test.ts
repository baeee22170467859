/** ocr with tesseract.js on a rendered page and its rotations: the text reads back. */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURES, query, ROOT, scratch } from './helpers.js';

/** Character error rate: edit distance / reference length, ignoring layout whitespace. */
function cer(reference: string, hypothesis: string): number {
  const a = reference.replace(/\s+/g, ' ').trim();
  const b = hypothesis.replace(/\s+/g, ' ').trim();
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length]! / a.length;
}

describe('ocr', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const out = path.join(work, 'out');
  const db = path.join(work, 'l.db');
  const transcript = readFileSync(path.join(FIXTURES, 'documents', 'page.txt'), 'utf8');
  let results: Map<string, any>;

  beforeAll(async () => {
    mkdirSync(input);
    copyFileSync(path.join(FIXTURES, 'documents', 'page.png'), path.join(input, 'page.png'));
    for (const angle of [90, 180, 270]) await sharp(path.join(FIXTURES, 'documents', 'page.png')).rotate(angle).toFile(path.join(input, `page-${angle}.png`));
    copyFileSync(path.join(FIXTURES, 'photos', 'landscape.jpg'), path.join(input, 'landscape.jpg'));
    const run = await cli(['run', input, '--tasks', 'ocr', '--ocr-text', 'true', '--db', db, '--out', out, '--quiet'], { cwd: work });
    expect(run.code, run.stderr).toBe(0);
    const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'ocr'");
    results = new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
  });

  it('reads a rendered page back with a character error rate under 2%, with line and word boxes', () => {
    const page = results.get('page.png');
    expect(cer(transcript, page.text)).toBeLessThan(0.02);
    expect(page).toMatchObject({ angle: 0 });
    expect(page.confidence).toBeGreaterThan(80);
    expect(page.lines).toHaveLength(6);
    const fox = page.lines[5];
    expect(fox.words[1].text).toBe('quick');
    expect(fox.box.width).toBeGreaterThan(fox.box.height * 10);
    expect(readFileSync(path.join(out, 'ocr', 'page.png.txt'), 'utf8').trim()).toBe(page.text);
  });

  it('reads the page rotated by 90, 180 and 270 degrees, and reports the rotation that makes it upright', () => {
    for (const [angle, upright] of [[90, 270], [180, 180], [270, 90]] as const) {
      const result = results.get(`page-${angle}.png`);
      expect(result.angle, `page-${angle}`).toBe(upright);
      expect(cer(transcript, result.text), `page-${angle}`).toBeLessThan(0.02);
    }
  });

  it('finds no text in a photo without any, and writes no cache files', () => {
    expect(results.get('landscape.jpg')).toMatchObject({ text: '', words: 0, lines: [] });
    expect(readdirSync(work).filter((name) => name.endsWith('.traineddata'))).toEqual([]);
    expect(existsSync(path.join(ROOT, 'eng.traineddata'))).toBe(false);
  });

  it('an uninstalled language is a usage error naming its package', async () => {
    const result = await cli(['run', input, '--tasks', 'ocr', '--ocr-lang', 'eng+fra', '--db', path.join(work, 'x.db')]);
    expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(/--ocr-lang: no language data for fra; install it with: npm install @tesseract.js-data\/fra/)]);
  });
});
