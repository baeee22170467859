/**
 * `imgpipe report --html`: a report of a real ledger (faces, anonymize, objects, ocr, nsfw and
 * labels run on face photos, a document page, a broken file and hostile names), checked on disk
 * and then in a real browser (Debian's chromium driven by playwright-core): the summary, a
 * filter in the gallery, an image page with its overlays, and that no script from a file name or
 * a result ever runs.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURES, makeImages, query, ROOT, scratch } from './helpers.js';

const SAMPLES = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');
/** Debian's chromium; IMGPIPE_TEST_CHROMIUM points elsewhere (another build, or a missing path to see the skip). */
const CHROMIUM = process.env.IMGPIPE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTEFACTS = path.join(ROOT, 'test-artifacts');
/** Both a key (through a manifest id, where slashes are allowed) and a file name try to run script. */
const HOSTILE_KEY = '</script><script>window.__pwned = "key"</script>.jpg';
const HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">.jpg';
const HOSTILE_TEXT = '</script><img src=x onerror="window.__pwned=\'ocr\'"> \u2028<!-- <svg onload=window.__pwned=2>';

interface IndexEntry {
  id: number;
  key: string;
  thumb: string | null;
  faces?: number;
}

/** The value a data script registers: JSON after the name, with its \u escapes. */
function readData(file: string): any {
  const text = readFileSync(file, 'utf8');
  const match = /^imgpipeReport\.register\(("[^"]*"), ([\s\S]*)\);\n$/.exec(text);
  if (!match) throw new Error(`${file} is not a data script`);
  return JSON.parse(match[2]!);
}

function indexOf(report: string): IndexEntry[] {
  const data = path.join(report, 'data');
  return readdirSync(data)
    .filter((name) => name.startsWith('index-'))
    .sort()
    .flatMap((name) => readData(path.join(data, name)) as IndexEntry[]);
}

function results(db: string, task: string): Map<string, any> {
  const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = ? AND j.state = 'done'", task);
  return new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
}

describe('imgpipe report --html', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const out = path.join(work, 'out');
  const db = path.join(work, 'l.db');
  const report = path.join(work, 'report');
  let first: { images: number; pictures: { made: number; reused: number; failed: number } };

  beforeAll(async () => {
    mkdirSync(input);
    for (const name of ['sample2.jpg', 'sample5.jpg']) await sharp(path.join(SAMPLES, name)).resize(800).jpeg({ quality: 85 }).toFile(path.join(input, name));
    copyFileSync(path.join(FIXTURES, 'documents', 'page.png'), path.join(input, 'page.png'));
    copyFileSync(path.join(FIXTURES, 'broken', 'truncated.jpg'), path.join(input, 'truncated.jpg'));
    copyFileSync(path.join(FIXTURES, 'photos', 'portrait-rotated.jpg'), path.join(input, 'portrait-rotated.jpg'));
    copyFileSync(path.join(FIXTURES, 'photos', 'landscape.jpg'), path.join(input, HOSTILE_NAME));
    const manifest = path.join(work, 'hostile.jsonl');
    writeFileSync(manifest, `${JSON.stringify({ path: 'in/page.png', id: HOSTILE_KEY })}\n`);
    const run = await cli(['run', input, manifest, '--tasks', 'anonymize,objects,ocr,nsfw,labels', '--db', db, '--out', out, '--quiet']);
    expect(run.code, run.stderr).toBe(1); // truncated.jpg fails, as it should
    // Results are untrusted too: whatever text OCR returns is shown as text. Put the worst into one.
    const ledger = new Database(db);
    const ocr = JSON.parse((ledger.prepare("SELECT j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.key = ? AND j.task = 'ocr'").get(HOSTILE_NAME) as { result: string }).result);
    ocr.text = HOSTILE_TEXT;
    ocr.lines = [{ text: HOSTILE_TEXT, confidence: 90, box: { x: 10, y: 10, width: 200, height: 30 }, words: [{ text: HOSTILE_TEXT, confidence: 90, box: { x: 10, y: 10, width: 200, height: 30 } }] }];
    ledger.prepare("UPDATE jobs SET result = ? WHERE task = 'ocr' AND image_id = (SELECT id FROM images WHERE key = ?)").run(JSON.stringify(ocr), HOSTILE_NAME);
    ledger.close();
    const made = await cli(['report', '--html', report, '--db', db, '--out', out, '--json']);
    expect(made.code, made.stderr).toBe(0);
    first = JSON.parse(made.stdout);
  });

  it('writes the pages, the data and a picture of every image that decodes; a broken one gets a placeholder', () => {
    for (const page of ['index.html', 'gallery.html', 'image.html', 'report.js', 'report.css', 'data/summary.js']) expect(existsSync(path.join(report, page)), page).toBe(true);
    const index = indexOf(report);
    expect(index.map((entry) => entry.key).sort()).toEqual([HOSTILE_KEY, HOSTILE_NAME, 'page.png', 'portrait-rotated.jpg', 'sample2.jpg', 'sample5.jpg', 'truncated.jpg'].sort());
    expect(first.images).toBe(7);
    // 5 originals (page.png and the manifest's copy of it share their bytes: one picture for both)
    // and 6 anonymised copies (one per image but the broken one, whose faces failed).
    expect(first.pictures).toMatchObject({ made: 5 + 6, failed: 1 });
    const broken = index.find((entry) => entry.key === 'truncated.jpg')!;
    expect(broken.thumb).toBeNull();
    for (const entry of index.filter((e) => e.key !== 'truncated.jpg')) expect(statSync(path.join(report, entry.thumb!)).size, entry.key).toBeGreaterThan(500);
  });

  it('pictures are upright and small: the rotated fixture comes out portrait, thumbnails fit in 256 px', async () => {
    const sample = indexOf(report).find((entry) => entry.key === 'sample5.jpg')!;
    const meta = await sharp(path.join(report, sample.thumb!)).metadata();
    expect(Math.max(meta.width!, meta.height!)).toBe(256);
    const records = readData(path.join(report, 'data', 'images-0000.js'));
    // Stored 640x427 with EXIF orientation 6: upright, it is 427x640, and so are its pictures.
    const rotated = records.find((r: any) => r.key === 'portrait-rotated.jpg');
    expect(rotated.picture).toMatchObject({ width: 427, height: 640 });
    const rotatedThumb = await sharp(path.join(report, rotated.picture.thumb)).metadata();
    expect([rotatedThumb.width, rotatedThumb.height, rotatedThumb.orientation ?? 1]).toEqual([171, 256, 1]);
    const record = records.find((r: any) => r.key === 'sample5.jpg');
    expect(record.picture).toMatchObject({ width: 800 });
    expect((await sharp(path.join(report, record.picture.preview)).metadata()).width).toBe(800);
    const faces = results(db, 'faces').get('sample5.jpg');
    expect(record.jobs.find((job: any) => job.task === 'faces').result).toEqual(faces);
    const anonymized = record.jobs.find((job: any) => job.task === 'anonymize');
    expect(anonymized.artifacts[0].preview).toMatch(/^pictures\/artefact-1024\/.+\.webp$/);
  });

  it('the summary counts what the ledger holds', () => {
    const summary = readData(path.join(report, 'data', 'summary.js'));
    const faces = summary.tasks.find((t: any) => t.task === 'faces');
    expect(faces).toMatchObject({ done: 6, failed: 1 });
    expect(summary.failures).toContainEqual(expect.objectContaining({ task: 'faces', code: 'E_DECODE', count: 1 }));
    expect(summary.objects.find(([name]: [string]) => name === 'person')[1]).toBe(2);
    expect(summary.duplicates.groups[0]).toMatchObject({ kind: 'exact', images: [expect.objectContaining({ key: HOSTILE_KEY }), expect.objectContaining({ key: 'page.png' })] });
    expect(summary.runs).toHaveLength(1);
  });

  it('data scripts carry file names and OCR text only as escaped JSON: no <, no U+2028', () => {
    const data = path.join(report, 'data');
    for (const name of readdirSync(data)) {
      const text = readFileSync(path.join(data, name), 'utf8');
      expect(text, name).not.toMatch(/[<>&\u2028\u2029]/);
    }
    expect(indexOf(report).map((entry) => entry.key)).toContain(HOSTILE_KEY);
  });

  it('a second report into the same folder remakes no picture', async () => {
    const thumb = indexOf(report).find((entry) => entry.key === 'sample2.jpg')!.thumb!;
    const before = statSync(path.join(report, thumb)).mtimeMs;
    const again = await cli(['report', '--html', report, '--db', db, '--out', out, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).pictures).toMatchObject({ made: 0, reused: 11, failed: 1 });
    expect(statSync(path.join(report, thumb)).mtimeMs).toBe(before);
  });

  it("without the run's --out, the report is made all the same and says which artefacts it missed", async () => {
    const elsewhere = await cli(['report', '--html', path.join(work, 'report-no-out'), '--db', db, '--out', path.join(work, 'nowhere'), '--json']);
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(JSON.parse(elsewhere.stdout).pictures).toMatchObject({ missingArtefacts: 6, failed: 1 });
    expect(elsewhere.stderr).toMatch(/warning: 6 artefacts the ledger names are not under .*nowhere; pass the run's --out/);
  });

  it('usage errors exit 2 naming the flag, before writing anything', async () => {
    const target = path.join(work, 'never');
    const cases: [string[], RegExp][] = [
      [['--db', db], /--html: expected the folder to write the report to/],
      [['--html', target, '--db', db, '--thumb-size', '5'], /--thumb-size: expected an integer from 64 to 1024, got "5"/],
      [['--html', target, '--db', db, '--preview-size', '300', '--thumb-size', '512'], /--preview-size: expected at least --thumb-size \(512\)/],
      [['--html', target, '--db', db, '--threads', 'many'], /--threads: expected an integer/],
      [['--html', target, '--db', path.join(work, 'none.db')], /no ledger at/],
      [['--html', input, '--db', db], /--html: .* is not empty and holds no imgpipe report/],
      [['--html', target, '--db', db, '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(['report', ...args]);
      expect([result.code, result.stderr], args.join(' ')).toEqual([2, expect.stringMatching(message)]);
    }
    expect(existsSync(target)).toBe(false);
    const help = await cli(['report', '--help']);
    expect(help.stdout).toMatch(/Examples:\n {2}imgpipe report --html report\//);
  });

  describe('in a browser', () => {
    const present = existsSync(CHROMIUM);
    const required = process.env.CI === 'true';
    if (!present && !required) process.stderr.write(`report browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)\n`);
    let context: BrowserContext;
    let page: Page;
    const errors: string[] = [];

    beforeAll(async () => {
      if (!present && required) throw new Error(`CI=true but ${CHROMIUM} is missing: .ci/run installs it with apt-get; the browser tests must not be skipped in CI`);
      if (!present) return;
      context = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'imgpipe-chromium-')), {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: 1280, height: 900 },
      });
      page = await context.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      // Nothing may leave the machine: every request must be for a file of this test's reports.
      await context.route('**/*', (route) => (route.request().url().startsWith(`file://${work}/`) ? route.continue() : (errors.push(`request: ${route.request().url()}`), route.abort())));
    });

    afterAll(async () => {
      await context?.close();
    });

    const open = async (file: string): Promise<void> => {
      await page.goto(`file://${report}/${file}`);
    };

    it.skipIf(!present && !required)('the summary shows every task with its counts, and the failures', async () => {
      await open('index.html');
      await page.waitForSelector('main table');
      const facesRow = page.locator('tbody tr', { has: page.locator('td:first-child', { hasText: /^faces$/ }) });
      await expect(facesRow.locator('td').nth(3).textContent()).resolves.toBe('6');
      await expect(page.locator('code', { hasText: 'E_DECODE' }).first().isVisible()).resolves.toBe(true);
      await expect(page.evaluate(() => (window as any).__pwned)).resolves.toBeUndefined();
    });

    it.skipIf(!present && !required)('the gallery filters by face count and by OCR text', async () => {
      await open('gallery.html');
      await page.waitForSelector('#gallery-grid .card');
      await expect(page.locator('#gallery-grid .card').count()).resolves.toBe(7);
      await page.selectOption('#filter-faces', '1+');
      await page.waitForFunction(() => location.hash.includes('faces=1%2B'));
      const withFaces = [...results(db, 'faces')].filter(([, r]) => r.count >= 1).map(([key]) => key).sort();
      expect(withFaces).toEqual(['sample2.jpg', 'sample5.jpg']);
      await expect(page.locator('#gallery-grid .card .caption').allTextContents().then((keys) => keys.sort())).resolves.toEqual(withFaces);
      await page.click('text=clear');
      await page.fill('#filter-q', 'lazy dog');
      await page.waitForFunction(() => document.querySelector('#gallery-status')?.textContent?.startsWith('2 of'));
      await expect(page.locator('#gallery-grid .card .caption').allTextContents().then((keys) => keys.sort())).resolves.toEqual([HOSTILE_KEY, 'page.png'].sort());
    });

    it.skipIf(!present && !required)('an image page draws the faces, objects and OCR words where the results put them', async () => {
      await open('gallery.html#faces=5%2B');
      await page.waitForSelector('#gallery-grid .card');
      await page.click('#gallery-grid .card');
      await page.waitForSelector('svg.overlay');
      await expect(page.locator('h1.key').textContent()).resolves.toBe('sample5.jpg');
      const faces = results(db, 'faces').get('sample5.jpg');
      const objects = results(db, 'objects').get('sample5.jpg');
      await expect(page.locator('g.face rect.box').count()).resolves.toBe(faces.faces.length);
      await expect(page.locator('g.face rect.box:not(.faint)').count()).resolves.toBe(faces.count);
      await expect(page.locator('g.object rect.box').count()).resolves.toBe(objects.objects.length);
      await expect(page.locator('g.object text').first().textContent()).resolves.toMatch(new RegExp(`^${objects.objects[0].label} 0\\.\\d\\d$`));
      // The best face's box, scaled from 800 px to the picture as shown, lands where the result says.
      const shown = (await page.locator('#preview').boundingBox())!;
      const drawn = (await page.locator('g.face rect.box').first().boundingBox())!;
      const scale = shown.width / 800;
      const box = faces.faces[0].box;
      expect(Math.abs(drawn.x - (shown.x + box.x * scale))).toBeLessThan(3);
      expect(Math.abs(drawn.width - box.width * scale)).toBeLessThan(3);
      await expect(page.locator('figure.artefact.anonymize img').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).resolves.toBeGreaterThan(0);
      // Hiding a layer hides its boxes.
      await page.uncheck('input[data-layer="face"]');
      await expect(page.locator('g.face rect.box').first().isVisible()).resolves.toBe(false);
      await page.check('input[data-layer="face"]');
      mkdirSync(ARTEFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTEFACTS, 'report.png') });

      const words = results(db, 'ocr').get('page.png').lines.flatMap((line: any) => line.words).length;
      expect(words).toBeGreaterThan(40);
      const pageId = indexOf(report).find((entry) => entry.key === 'page.png')!.id;
      await open(`image.html#id=${pageId}`);
      await page.waitForSelector('svg.overlay');
      await expect(page.locator('g.ocr rect.box').count()).resolves.toBe(words);
      await expect(page.locator('pre.ocr-text').textContent()).resolves.toMatch(/lazy dog/);
    });

    it.skipIf(!present && !required)('hostile file names and OCR text show as text, and no script of theirs runs', async () => {
      const index = indexOf(report);
      for (const key of [HOSTILE_KEY, HOSTILE_NAME, 'truncated.jpg']) {
        await open(`image.html#id=${index.find((entry) => entry.key === key)!.id}`);
        await page.waitForSelector('h1.key');
        await expect(page.locator('h1.key').textContent()).resolves.toBe(key);
      }
      await expect(page.locator('.placeholder').count()).resolves.toBe(1);
      await open(`image.html#id=${index.find((entry) => entry.key === HOSTILE_NAME)!.id}`);
      await page.waitForSelector('pre.ocr-text');
      await expect(page.locator('pre.ocr-text').textContent()).resolves.toBe(HOSTILE_TEXT);
      await expect(page.locator('g.ocr rect title').textContent()).resolves.toBe(`${HOSTILE_TEXT} (90)`);
      for (const file of ['index.html', 'gallery.html', 'gallery.html#q=script']) {
        await open(file);
        await page.waitForSelector('main');
      }
      await page.waitForSelector('#gallery-grid .card');
      await expect(page.locator('img[src="x"]').count()).resolves.toBe(0);
      await expect(page.evaluate(() => (window as any).__pwned)).resolves.toBeUndefined();
      expect(errors).toEqual([]);
    });

    it.skipIf(!present && !required)('the gallery shows 100 images a page and pages through the rest', async () => {
      const many = path.join(work, 'many');
      await makeImages(many, 150, [48, 32]);
      const manyDb = path.join(work, 'many.db');
      const manyReport = path.join(work, 'many-report');
      expect((await cli(['run', many, '--tasks', 'meta', '--db', manyDb, '--out', out, '--quiet'])).code).toBe(0);
      expect((await cli(['report', '--html', manyReport, '--db', manyDb, '--out', out])).code).toBe(0);
      await page.goto(`file://${manyReport}/gallery.html`);
      await page.waitForSelector('#gallery-grid .card');
      await expect(page.locator('#gallery-grid .card').count()).resolves.toBe(100);
      await expect(page.locator('#gallery-status').textContent()).resolves.toBe('150 of 150 images, page 1 of 2');
      await page.click('button.page:has-text("next")');
      await page.waitForFunction(() => location.hash.includes('page=2'));
      await expect(page.locator('#gallery-grid .card').count()).resolves.toBe(50);
      await expect(page.locator('#gallery-grid .card .caption').first().textContent()).resolves.toBe('batch-01/img-0100.jpg');
      await page.goBack();
      await expect(page.locator('#gallery-grid .card .caption').first().textContent()).resolves.toBe('batch-00/img-0000.jpg');
      expect(errors).toEqual([]);
    });
  });
});
