/**
 * Suite `concurrency`: how to split the thread budget of this machine between workers and
 * threads per worker, per model task, to set the defaults from.
 *
 *   nsfw, faces, objects, embed (TensorFlow.js on its WebAssembly backend) and ocr (tesseract.js):
 *     their runtimes run one thread per worker whatever they are given (tfjs-wasm reports no
 *     multithread support in Node, tesseract.js's core is single-threaded), so 1 worker x 2
 *     threads is 1 worker x 1 thread; the choice is 1 worker or one per core. Measured through
 *     imgpipe: `--concurrency T=1` against the default pool, same run, alternating order.
 *   background (IS-Net on onnxruntime, the only task whose threads per worker matter): 1 worker
 *     x 2 intra-op threads against 2 workers x 1 thread, both in the bare loop
 *     (bench/bare-loop.js --worker-threads; imgpipe has no flag for threads per worker), and
 *     imgpipe's default beside them.
 * Per task: images/s, peak RSS, and the memory one more worker costs (RSS with 2 workers minus
 * RSS with 1), which is what a 16-core default has to budget for.
 *
 * Corpora: the models suite's photos (bench/photos.js), PHOTOS files for the tfjs tasks and
 * BACKGROUND_PHOTOS for IS-Net (seconds an image); the ocr suite's 8 document pages.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { assertExitedCleanly, BenchFailure, formatStats, log, markdownTable, ROOT_DIR, runNode, stats, timeBareLoop } from '../lib.js';
import { ensurePhotoCorpus } from '../photos.js';

const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';
const QUICK = process.env.BENCH_QUICK === '1';
const PHOTOS = QUICK ? 8 : 16;
const BACKGROUND_PHOTOS = QUICK ? 4 : 8;
const PAGES = 8;
const SINGLE_THREADED = [
  { task: 'nsfw', runtime: 'tfjs-wasm' },
  { task: 'faces', runtime: 'tfjs-wasm (SSD MobileNetV1, the default model)' },
  { task: 'objects', runtime: 'tfjs-wasm' },
  { task: 'embed', runtime: 'tfjs-wasm' },
  { task: 'ocr', runtime: 'tesseract.js (wasm)', corpus: 'pages' },
];

async function ensurePages() {
  const dir = path.join(ROOT_DIR, 'bench', '.corpus', 'concurrency-pages', String(PAGES));
  if (existsSync(path.join(dir, '.complete'))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const source = path.join(ROOT_DIR, 'fixtures', 'documents', 'page.png');
  for (let i = 0; i < PAGES; i++) {
    const angle = [0, 90, 180, 270][i % 4];
    const file = path.join(dir, `page-${i}-${angle}.png`);
    if (angle === 0) await copyFile(source, file);
    else await sharp(source).rotate(angle).png().toFile(file);
  }
  await writeFile(path.join(dir, '.complete'), 'ok\n');
  return dir;
}

/** Results per second after the first `warm` (start-up and model loading), from their times in ms. */
function steadyRate(times, warm) {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted.length > warm + 1 ? (sorted.length - 1 - warm) / ((sorted[sorted.length - 1] - sorted[warm]) / 1000) : null;
}

/** Runs the steps of one repeat in order, or reversed on even repeats. */
async function alternating(r, steps) {
  const out = {};
  for (const [id, step] of r % 2 === 0 ? [...steps].reverse() : steps) out[id] = await step();
  return out;
}

export default {
  name: 'concurrency',
  title: 'Concurrency: workers and threads per worker, per model task, on this machine',

  async run({ repeat, threads, workDir: work }) {
    const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
    const tasks = [...SINGLE_THREADED.map((t) => t.task), 'background'];
    const settings = resolveRunSettings(['.'], { tasks: tasks.join(','), ...(threads ? { threads: String(threads) } : {}) }, {});
    const budget = settings.threads;
    const defaults = Object.fromEntries(settings.tasks.map((t) => [t.meta.name, { workers: t.concurrency, threadsPerWorker: t.threadsPerJob }]));
    if (budget < 2) throw new BenchFailure('concurrency: needs a budget of at least 2 threads (--threads)');
    const photos = await ensurePhotoCorpus(PHOTOS);
    const backgroundPhotos = await ensurePhotoCorpus(BACKGROUND_PHOTOS);
    const pages = await ensurePages();
    const dbDir = path.join(work, 'db');
    await mkdir(dbDir, { recursive: true });

    /** imgpipe on a fresh ledger: whole-run images/s, peak RSS, and the steady rate from its job events. */
    const imgpipe = (task, corpus, count, workers) => async () => {
      const db = path.join(dbDir, `${task}.db`);
      await rm(db, { force: true });
      const args = [IMGPIPE, 'run', corpus, '--tasks', task, '--db', db, '--out', path.join(work, 'out'), '--json', '--threads', String(budget)];
      if (workers !== undefined) args.push('--concurrency', `${task}=${workers}`);
      let summary;
      const done = [];
      const result = await runNode(args, {
        onJson: (event) => {
          if (event.event === 'summary') summary = event;
          else if (event.event === 'job' && event.state === 'done') done.push(Date.parse(event.time));
        },
      });
      assertExitedCleanly(`imgpipe run --tasks ${task}`, args, result);
      if (summary?.jobs?.done !== count) throw new BenchFailure(`imgpipe run --tasks ${task}: expected ${count} jobs done, got ${JSON.stringify(summary?.jobs)}`);
      return { imagesPerSecond: count / (summary.durationMs / 1000), steadyImagesPerSecond: steadyRate(done, 2 * (workers ?? defaults[task].workers)), maxRssMb: summary.maxRssMb };
    };
    const bare = (task, corpus, count, workers, workerThreads) => () =>
      timeBareLoop([BARE, '--corpus', corpus, '--out', path.join(work, 'bare'), '--task', task, '--threads', String(workers), '--worker-threads', String(workerThreads)], count);

    // Untimed warm-up: every model's files in the page cache.
    for (const { task, corpus } of SINGLE_THREADED) await imgpipe(task, corpus === 'pages' ? pages : backgroundPhotos, corpus === 'pages' ? PAGES : BACKGROUND_PHOTOS)();

    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const sample = {};
      for (const { task, corpus } of SINGLE_THREADED) {
        const [dir, count] = corpus === 'pages' ? [pages, PAGES] : [photos, PHOTOS];
        const m = await alternating(r, [
          ['one', imgpipe(task, dir, count, 1)],
          ['default', imgpipe(task, dir, count)],
        ]);
        sample[task] = { ...m, speedup: m.default.imagesPerSecond / m.one.imagesPerSecond, steadySpeedup: m.default.steadyImagesPerSecond / m.one.steadyImagesPerSecond, perWorkerMb: m.default.maxRssMb - m.one.maxRssMb };
        log(`concurrency ${task}, repeat ${r}/${repeat}: 1 worker ${m.one.imagesPerSecond.toFixed(2)}/s ${m.one.maxRssMb} MB; ${defaults[task].workers} workers (default) ${m.default.imagesPerSecond.toFixed(2)}/s ${m.default.maxRssMb} MB`);
      }
      const b = await alternating(r, [
        ['oneByTwo', bare('background', backgroundPhotos, BACKGROUND_PHOTOS, 1, budget)],
        ['twoByOne', bare('background', backgroundPhotos, BACKGROUND_PHOTOS, budget, 1)],
        ['default', imgpipe('background', backgroundPhotos, BACKGROUND_PHOTOS)],
      ]);
      sample.background = { ...b, twoByOneOverOneByTwo: b.twoByOne.imagesPerSecond / b.oneByTwo.imagesPerSecond, steadyTwoByOneOverOneByTwo: b.twoByOne.steadyImagesPerSecond / b.oneByTwo.steadyImagesPerSecond, perWorkerMb: b.twoByOne.maxRssMb - b.oneByTwo.maxRssMb };
      log(`concurrency background, repeat ${r}/${repeat}: bare 1x${budget} ${b.oneByTwo.imagesPerSecond.toFixed(3)}/s ${b.oneByTwo.maxRssMb} MB; bare ${budget}x1 ${b.twoByOne.imagesPerSecond.toFixed(3)}/s ${b.twoByOne.maxRssMb} MB; imgpipe default ${b.default.imagesPerSecond.toFixed(3)}/s ${b.default.maxRssMb} MB`);
      samples.push(sample);
    }
    return {
      settings: { repeat, budget, defaults, photos: PHOTOS, backgroundPhotos: BACKGROUND_PHOTOS, pages: PAGES, runtimes: Object.fromEntries(SINGLE_THREADED.map((t) => [t.task, t.runtime])) },
      samples,
    };
  },

  render(entry) {
    const { settings, samples } = entry;
    const pick = (get) => stats(samples.map(get));
    const mb = (v) => formatStats(v, { unit: 'MB', digits: 0 });
    const x = (v) => formatStats(v, { unit: '×', digits: 2 });
    const n = settings.budget;
    const rows = [];
    // By the steady rate (what a long batch sees), beyond 5 % either way.
    const verdict = (ratio, better, worse) => (!ratio ? '—' : ratio.median > 1.05 ? better : ratio.median < 0.95 ? worse : 'no clear difference (±5 %)');
    const cell = (get, digits = 2) => {
      const f = (v) => formatStats(v, { digits });
      return `${f(pick((s) => get(s).imagesPerSecond))} (steady ${f(pick((s) => get(s).steadyImagesPerSecond))}) / ${mb(pick((s) => get(s).maxRssMb))}`;
    };
    for (const task of Object.keys(settings.runtimes)) {
      rows.push([
        `\`${task}\` (${settings.runtimes[task]})`,
        cell((s) => s[task].one),
        'same as 1 × 1: one thread per worker whatever it is given',
        cell((s) => s[task].default),
        `${x(pick((s) => s[task].speedup))} (steady ${x(pick((s) => s[task].steadySpeedup))})`,
        mb(pick((s) => s[task].perWorkerMb)),
        verdict(pick((s) => s[task].steadySpeedup), `${n} × 1`, '1 × 1'),
      ]);
    }
    rows.push([
      '`background` (IS-Net, onnxruntime; bare loop, and imgpipe\'s default)',
      'not run',
      `bare: ${cell((s) => s.background.oneByTwo, 3)}`,
      `bare: ${cell((s) => s.background.twoByOne, 3)}; imgpipe: ${cell((s) => s.background.default, 3)}`,
      `${x(pick((s) => s.background.twoByOneOverOneByTwo))} (steady ${x(pick((s) => s.background.steadyTwoByOneOverOneByTwo))}), ${n} × 1 over 1 × ${n}`,
      mb(pick((s) => s.background.perWorkerMb)),
      verdict(pick((s) => s.background.steadyTwoByOneOverOneByTwo), `${n} × 1`, `1 × ${n}`),
    ]);
    const lines = [
      `Budget \`--threads ${n}\`. Workers × threads per worker; each cell: images/s over the whole run (steady: after the first 2 results per worker, model loading excluded) / peak RSS (whole process). ${settings.photos} photos (the models corpus) for the tfjs tasks, ${settings.backgroundPhotos} for background, ${settings.pages} document pages (upright and turned) for ocr. Median of ${settings.repeat} runs [min–max]; the variants alternate order every repeat and ratios are taken within a repeat.`,
      '',
      markdownTable(['Task (runtime)', '1 worker × 1 thread', `1 worker × ${n} threads`, `${n} workers × 1 thread (the default)`, 'Speed-up of the default', 'Memory per extra worker', `Faster on ${n} cores (steady rate, beyond ±5 %)`], rows),
      '',
      'How it is measured: the tfjs and tesseract.js tasks through `imgpipe run --tasks T [--concurrency T=1] --json` on a fresh ledger (images/s over the summary\'s `durationMs`, model loading in every worker included, peak RSS its `maxRssMb`); `background` in `bench/bare-loop.js --task background --threads W --worker-threads T` (the same worker code, with T onnxruntime intra-op threads per session), and its imgpipe default beside it. *Memory per extra worker* is peak RSS with the default pool minus with one worker (for background: 2 × 1 minus 1 × 2 in the bare loop).',
      '',
      'The default pool sizes in `src/tasks/*/meta.ts` cite this table; what they give a larger machine is derived from it (README, Concurrency), not measured.',
    ];
    return lines.join('\n');
  },
};
