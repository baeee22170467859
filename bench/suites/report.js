/**
 * Suite `report`: `imgpipe report --html` on a 10,000-image ledger, against the issue's target
 * of under 30 s. The ledger comes from `imgpipe run --tasks meta` on the engine suite's corpus
 * (10,000 distinct small JPEGs; untimed). Each repeat times, from spawn to exit:
 *   cold  a report into a new folder: every thumbnail and preview made, every data file written;
 *   warm  the same report again into that folder: pictures found up to date, data rewritten.
 * Wall time depends on what else the (shared) machine runs, so CPU time is measured too.
 * The corpus images are 64x48, so their pictures are cheap; what a real photo costs is measured
 * apart, on the models suite's eight distinct photos (1920 px demo photos and fixtures): a cold
 * report of them, per photo (its own time: Node start-up excluded).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureCorpus } from '../corpus.js';
import { ensureEvalCorpus } from '../photos.js';
import { assertExitedCleanly, BenchFailure, formatStats, log, markdownTable, ROOT_DIR, runNode, stats } from '../lib.js';

const SIZE = 10_000;
const TARGET_SECONDS = 30;
const IMGPIPE = 'bin/imgpipe.js';

const GNU_TIME = '/usr/bin/time';

/**
 * One `imgpipe report --json`: wall time from spawn to exit, what it says it made, and its CPU
 * time (user + system, from GNU time when the machine has it). On a shared machine the wall
 * time depends on the load; CPU time divided by the cores is what an idle machine would take.
 */
async function timeReport(what, args) {
  const cpu = existsSync(GNU_TIME);
  const command = cpu ? [GNU_TIME, '-f', 'report-cpu %U %S', process.execPath, ...args] : [process.execPath, ...args];
  const started = performance.now();
  const { code, stdout, stderr } = await new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err += chunk));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, stdout: out, stderr: err }));
  });
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new BenchFailure(`${what} failed (exit code ${code}): node ${args.join(' ')}\n${stderr.slice(-2000)}`);
  const written = JSON.parse(stdout.trim().split('\n').at(-1));
  const times = /report-cpu ([\d.]+) ([\d.]+)/.exec(stderr);
  return {
    seconds,
    cpuSeconds: times ? Number(times[1]) + Number(times[2]) : null,
    inside: written.seconds,
    images: written.images,
    made: written.pictures.made,
    reused: written.pictures.reused,
    failed: written.pictures.failed,
  };
}

const CHROMIUM = '/usr/bin/chromium';
const LARGE = 10;

/** A data script as imgpipe writes it (src/report/script-data.ts). */
const dataScript = (name, value) =>
  `imgpipeReport.register(${JSON.stringify(name)}, ${JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)});\n`;
const readData = async (file) => {
  const text = await readFile(file, 'utf8');
  return JSON.parse(text.slice(text.indexOf(', ') + 2, text.lastIndexOf(')')));
};

/**
 * The gallery of 100,000 images in Chromium: the 10,000-image report's index repeated ten times
 * under other keys (the gallery reads only the index), then, per repeat, the time from opening
 * gallery.html to the first page of thumbnails, to apply a filter, and to search the keys.
 * Null when Debian's chromium is not installed.
 */
async function browseLargeGallery(html, repeat) {
  if (!existsSync(CHROMIUM)) return null;
  const data = path.join(html, 'data');
  const names = (await readdir(data)).filter((name) => name.startsWith('index-')).sort();
  const base = [];
  for (const name of names) base.push(...(await readData(path.join(data, name))));
  for (const name of names) await rm(path.join(data, name));
  const all = [];
  for (let copy = 0; copy < LARGE; copy++) for (const entry of base) all.push({ ...entry, id: all.length, key: `copy-${copy}/${entry.key}` });
  let chunks = 0;
  for (let i = 0; i < all.length; i += 5000, chunks++) await writeFile(path.join(data, `index-${String(chunks).padStart(4, '0')}.js`), dataScript(`index-${chunks}`, all.slice(i, i + 5000)));
  const summary = await readData(path.join(data, 'summary.js'));
  await writeFile(path.join(data, 'summary.js'), dataScript('summary', { ...summary, images: all.length, chunks: { ...summary.chunks, index: chunks } }));

  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(await mkdtemp(path.join(tmpdir(), 'imgpipe-bench-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const samples = [];
  try {
    const page = await context.newPage();
    for (let r = 1; r <= repeat; r++) {
      let started = performance.now();
      await page.goto(`file://${html}/gallery.html`);
      await page.waitForSelector('#gallery-grid .card');
      const open = performance.now() - started;
      const status = await page.locator('#gallery-status').textContent();
      if (!status.startsWith(`${all.length.toLocaleString('en')} of`)) throw new BenchFailure(`large gallery: ${status}`);
      started = performance.now();
      await page.selectOption('#filter-task', 'meta');
      await page.waitForFunction(() => location.hash.includes('task=meta') && document.querySelector('#gallery-grid .card'));
      const filter = performance.now() - started;
      started = performance.now();
      await page.evaluate(() => (location.hash = 'q=img-000123'));
      await page.waitForFunction((n) => document.querySelector('#gallery-status').textContent.startsWith(`${n} of`), LARGE);
      const search = performance.now() - started;
      samples.push({ openMs: open, filterMs: filter, searchMs: search });
      log(`report, large gallery ${r}/${repeat}: open ${open.toFixed(0)} ms, filter ${filter.toFixed(0)} ms, search ${search.toFixed(0)} ms`);
    }
  } finally {
    await context.close();
  }
  return { images: all.length, samples };
}

async function folderBytes(dir) {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

export default {
  name: 'report',
  title: 'report: `imgpipe report --html` on 10,000 images',

  async run({ repeat, threads, workDir: work }) {
    const budget = threads ?? (await import('node:os')).availableParallelism();
    const corpus = await ensureCorpus(SIZE);
    const db = path.join(work, 'meta.db');
    const out = path.join(work, 'out');
    const prepare = [IMGPIPE, 'run', corpus, '--tasks', 'meta', '--db', db, '--out', out, '--quiet', '--threads', String(budget)];
    log(`report: meta on ${SIZE} images (untimed)`);
    assertExitedCleanly('imgpipe run --tasks meta', prepare, await runNode(prepare));

    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const html = path.join(work, `html-${r}`);
      const args = [IMGPIPE, 'report', '--html', html, '--db', db, '--out', out, '--json', '--threads', String(budget)];
      const cold = await timeReport('imgpipe report (cold)', args);
      if (cold.images !== SIZE || cold.made !== SIZE || cold.failed !== 0) throw new BenchFailure(`cold report: expected ${SIZE} images and pictures, got ${JSON.stringify(cold)}`);
      const warm = await timeReport('imgpipe report (warm)', args);
      if (warm.made !== 0 || warm.reused !== SIZE) throw new BenchFailure(`warm report: expected every picture reused, got ${JSON.stringify(warm)}`);
      const indexBytes = (await readdir(path.join(html, 'data'))).filter((name) => name.startsWith('index-'));
      let bytes = 0;
      for (const name of indexBytes) bytes += (await stat(path.join(html, 'data', name))).size;
      samples.push({ cold: cold.seconds, coldCpu: cold.cpuSeconds, warm: warm.seconds, warmCpu: warm.cpuSeconds, indexBytesPerImage: bytes / SIZE, dataMb: (await folderBytes(path.join(html, 'data'))) / 1e6 });
      log(`report, repeat ${r}/${repeat}: cold ${cold.seconds.toFixed(1)} s (CPU ${cold.cpuSeconds ?? '?'} s), warm ${warm.seconds.toFixed(1)} s`);
      if (r < repeat) await rm(html, { recursive: true, force: true });
    }
    const gallery = await browseLargeGallery(path.join(work, `html-${repeat}`), repeat);

    const photos = await ensureEvalCorpus();
    const photoDb = path.join(work, 'photos.db');
    const photoRun = [IMGPIPE, 'run', photos, '--tasks', 'meta', '--db', photoDb, '--out', out, '--quiet', '--threads', String(budget)];
    assertExitedCleanly('imgpipe run --tasks meta (photos)', photoRun, await runNode(photoRun));
    const photoSamples = [];
    for (let r = 1; r <= repeat; r++) {
      const html = path.join(work, `photos-${r}`);
      const measured = await timeReport('imgpipe report (photos)', [IMGPIPE, 'report', '--html', html, '--db', photoDb, '--out', out, '--json', '--threads', String(budget)]);
      // The report's own time (ledger open to last file), not Node's start-up, shared by eight photos only.
      photoSamples.push({ msPerPhoto: (measured.inside * 1000) / measured.images, photos: measured.images });
      await rm(html, { recursive: true, force: true });
    }
    return { settings: { size: SIZE, repeat, threads: budget, target: TARGET_SECONDS }, samples, photoSamples, gallery };
  },

  render(entry) {
    const { settings, samples, photoSamples, gallery } = entry;
    const cold = stats(samples.map((s) => s.cold));
    const warm = stats(samples.map((s) => s.warm));
    const idle = (get) => stats(samples.map((s) => (s[get] === null || s[get] === undefined ? null : s[get] / settings.threads)));
    const coldIdle = idle('coldCpu');
    const perPhoto = stats(photoSamples.map((s) => s.msPerPhoto));
    const met = (s) => (s.median < settings.target ? 'met' : '**not met**');
    return [
      `A ledger of ${settings.size.toLocaleString('en-US')} images with \`meta\` results (the engine suite's corpus: distinct 64x48 JPEGs), \`--threads ${settings.threads}\`. Wall time of \`imgpipe report --html\` from spawn to exit, Node start-up included, on the machine as it was (shared: see the load average); and its CPU time (user + system) divided by the ${settings.threads} cores: a floor for the wall time on an idle machine (pictures are made on all cores, the data files are written on one). Median of ${settings.repeat} runs [min–max].`,
      '',
      markdownTable(
        ['Figure', 'Measured', 'Target', 'Met?'],
        [
          ['Cold (new folder, every picture made): wall time', formatStats(cold, { unit: 's', digits: 1 }), `< ${settings.target} s`, met(cold)],
          [`Cold: CPU time ÷ ${settings.threads} cores`, formatStats(coldIdle, { unit: 's', digits: 1 }), '', ''],
          ['Warm (same folder again, pictures up to date): wall time', formatStats(warm, { unit: 's', digits: 1 }), '', ''],
          [`Warm: CPU time ÷ ${settings.threads} cores`, formatStats(idle('warmCpu'), { unit: 's', digits: 1 }), '', ''],
          ['Gallery index, bytes per image', formatStats(stats(samples.map((s) => s.indexBytesPerImage)), { digits: 0 }), '', ''],
          ['All data files (MB)', formatStats(stats(samples.map((s) => s.dataMb)), { digits: 1 }), '', ''],
          [`Real photos: cold report of ${photoSamples[0].photos} distinct photos (1920 px and fixtures), ms per photo (start-up excluded)`, formatStats(perPhoto, { digits: 0 }), '', ''],
          ...(gallery
            ? [
                [`Gallery of ${gallery.images.toLocaleString('en-US')} images in Chromium: open to first page (ms)`, formatStats(stats(gallery.samples.map((g) => g.openMs)), { digits: 0 }), '', ''],
                ['… apply a filter (task) (ms)', formatStats(stats(gallery.samples.map((g) => g.filterMs)), { digits: 0 }), '', ''],
                ['… search the keys (ms)', formatStats(stats(gallery.samples.map((g) => g.searchMs)), { digits: 0 }), '', ''],
              ]
            : []),
        ],
      ),
      '',
      ...(gallery ? [`The gallery rows: the 10,000-image report's index repeated ${LARGE} times under other keys (the gallery reads only the index), opened from disk in headless Chromium.`, ''] : []),
      'Pictures are most of a cold report: one decode and one or two encodes an image, 2.5-4 ms of CPU for these small images (more when the machine is busy). For camera-sized photos the first report is bound by decoding them (the real-photo row: multiply by the number of photos and divide by the cores); later reports into the same folder reuse the pictures.',
    ].join('\n');
  },
};
