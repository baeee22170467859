/**
 * Suite `models`: the model tasks on real photos. For nsfw, faces (accurate), faces --faces-model
 * fast, objects, embed and background (IS-Net on onnxruntime; its default pool only): images/s through `imgpipe run` against a bare piscina loop running the same worker code
 * with the same options and thread count; the pool size (1 worker vs imgpipe's default); peak
 * RSS. For faces: recall and false positives of both models against hand-checked ground truth.
 * For anonymize: images/s and peak RSS of `--tasks faces,anonymize`.
 *
 * Corpora (bench/photos.js, copies of files in the checkout): the throughput corpus cycles the
 * six face-api demo photos (1920 px, people) and two fixture photos without people into
 * PHOTO_COUNT files (40: each photo five times; about 2.5 minutes per repeat on 2 cores, the
 * suite about 8 minutes at --repeat 3); the accuracy corpus is those 8 photos once. --sizes is
 * the engine suite's and is ignored here (so that one --sizes for a run of every suite works).
 *
 * Per repeat, for each model, in this order on odd repeats and reversed on even ones (so that
 * drift from other load on the machine hits every variant alike):
 *   imgpipe  `imgpipe run CORPUS --tasks T [flags] --json`, default pool (P workers), fresh ledger
 *   bare     bench/bare-loop.js --task T [--option ...] --threads P
 *   imgpipe  the same with --concurrency T=1
 *   bare     --threads 1
 * (with P = 1 the 1-worker pair is the default pair and is not run twice), then anonymize:
 * `imgpipe run CORPUS --tasks faces,anonymize`. Ratios are computed within each repeat, then
 * summarised as median [min–max]. The accuracy runs happen once, before the repeats (the
 * detectors are deterministic), and double as the untimed warm-up of the face models.
 */
import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { evaluate, facesResults, loadTruth, MATCH_IOU } from '../faces-truth.js';
import { assertExitedCleanly, BenchFailure, formatNumber, formatStats, log, markdownTable, ROOT_DIR, runNode, stats } from '../lib.js';
import { corpusMix, ensureEvalCorpus, ensurePhotoCorpus, PHOTOS } from '../photos.js';

const TARGETS = { throughputRatio: 0.9 };
/** Files in the throughput corpus: enough for a steady figure, few enough for the suite to stay under 10 minutes. */
const PHOTO_COUNT = 40;
const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';
/** Thresholds the recall is reported at: faces' `count` (--faces-min-score) and anonymize's floor. */
const SCORE_LEVELS = [
  { minScore: 0.5, label: '≥ 0.5 (faces `count`, --faces-min-score default)' },
  { minScore: 0.3, label: '≥ 0.3 (anonymize default --anonymize-min-score)' },
];

/** The measured models: imgpipe flags and the same options for the bare loop. */
const MODELS = [
  { id: 'nsfw', label: '`nsfw`', task: 'nsfw', flags: [], bareOptions: [] },
  { id: 'faces-accurate', label: '`faces` (accurate, the default)', task: 'faces', flags: [], bareOptions: [], faceModel: 'accurate' },
  { id: 'faces-fast', label: '`faces --faces-model fast`', task: 'faces', flags: ['--faces-model', 'fast'], bareOptions: ['model=fast'], faceModel: 'fast' },
  { id: 'objects', label: '`objects`', task: 'objects', flags: [], bareOptions: [] },
  { id: 'embed', label: '`embed`', task: 'embed', flags: [], bareOptions: [] },
  // IS-Net takes seconds an image: only the default pool is measured, to keep the suite's time in bounds.
  { id: 'background', label: '`background` (IS-Net, ONNX)', task: 'background', flags: [], bareOptions: [], defaultPoolOnly: true },
];

/** Pool sizes imgpipe itself gives these tasks under this thread budget (its own settings code). */
async function imgpipePools(tasks, threads) {
  const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
  const settings = resolveRunSettings(['.'], { tasks: tasks.join(','), ...(threads ? { threads: String(threads) } : {}) }, {});
  return { budget: settings.threads, pools: Object.fromEntries(settings.tasks.map((t) => [t.meta.name, t.concurrency])) };
}

/** Reads every file once, so that the first measured run does not pay for a cold page cache. */
async function warmFiles(dir) {
  const buffer = Buffer.alloc(1 << 20);
  for (const name of await readdir(dir)) {
    if (name.startsWith('.')) continue;
    const handle = await open(path.join(dir, name), 'r');
    try {
      while ((await handle.read(buffer, 0, buffer.length)).bytesRead > 0);
    } finally {
      await handle.close();
    }
  }
}

/**
 * Start-up and steady rate from reply times (ms from the start, in order): the first reply,
 * and the replies after the first `warm` per second up to the last one.
 */
function timeline(times, warm) {
  const sorted = [...times].sort((a, b) => a - b);
  return {
    firstDoneMs: sorted[0] ?? null,
    steadyPerSecond: sorted.length > warm + 1 ? (sorted.length - 1 - warm) / ((sorted[sorted.length - 1] - sorted[warm]) / 1000) : null,
  };
}

/** `imgpipe run` on the corpus with a fresh ledger; figures from its JSON events. */
async function measureImgpipe(work, corpus, size, tasks, flags, threads, { pool, countTask }) {
  const dir = path.join(work, 'imgpipe');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const args = [IMGPIPE, 'run', corpus, '--tasks', tasks.join(','), ...flags, '--db', path.join(dir, 'ledger.db'), '--out', path.join(dir, 'out'), '--json'];
  if (threads) args.push('--threads', String(threads));
  let summary;
  let startedAt;
  let firstFailure;
  const done = [];
  const result = await runNode(args, {
    onJson: (event) => {
      if (event.event === 'summary') summary = event;
      else if (event.event === 'run-start') startedAt = Date.parse(event.time);
      else if (event.event === 'job' && event.state === 'done' && event.task === countTask) done.push(Date.parse(event.time));
      else if (event.event === 'job' && event.state !== 'done') firstFailure ??= `${event.key}: ${event.state} ${event.code} ${event.message ?? ''}`;
    },
  });
  if (result.code !== 0 && firstFailure) result.tail = `first failure: ${firstFailure}\n${result.tail}`;
  const what = `imgpipe run --tasks ${tasks.join(',')} ${flags.join(' ')}`.trim();
  assertExitedCleanly(what, args, result);
  if (!summary) throw new BenchFailure(`${what}: no summary event on stdout: node ${args.join(' ')}\n${result.tail}`);
  const expectedJobs = size * tasks.length;
  if (summary.status !== 'completed' || summary.jobs.done !== expectedJobs || summary.jobs.failed !== 0 || summary.jobs.retries !== 0) {
    throw new BenchFailure(`${what}: expected ${expectedJobs} jobs done, no failures or retries; summary: status ${summary.status}, jobs ${JSON.stringify(summary.jobs)}${firstFailure ? `; first: ${firstFailure}` : ''}: node ${args.join(' ')}`);
  }
  await rm(dir, { recursive: true, force: true });
  const line = timeline(done.map((t) => t - (startedAt ?? Date.parse(summary.time) - summary.durationMs)), pool * 2);
  return {
    wallMs: result.wallMs,
    durationMs: summary.durationMs,
    imagesPerSecond: size / (summary.durationMs / 1000),
    steadyImagesPerSecond: line.steadyPerSecond,
    firstDoneMs: line.firstDoneMs,
    maxRssMb: summary.maxRssMb,
    mainThreadBusyMs: summary.mainThreadBusyMs,
  };
}

async function measureBare(work, corpus, size, model, workers) {
  const dir = path.join(work, 'bare');
  await rm(dir, { recursive: true, force: true });
  const args = [BARE, '--corpus', corpus, '--out', path.join(dir, 'out'), '--threads', String(workers), '--task', model.task, ...model.bareOptions.flatMap((o) => ['--option', o])];
  let summary;
  const result = await runNode(args, { onJson: (event) => event.event === 'bare-summary' && (summary = event) });
  if (summary?.failed > 0) throw new BenchFailure(`bare loop: ${summary.failed} of ${summary.files} jobs failed, first: ${summary.firstFailure}: node ${args.join(' ')}`);
  assertExitedCleanly('bare loop', args, result);
  if (!summary) throw new BenchFailure(`bare loop: no summary on stdout: node ${args.join(' ')}\n${result.tail}`);
  if (summary.done !== size) throw new BenchFailure(`bare loop: expected ${size} jobs done, got ${summary.done}: node ${args.join(' ')}`);
  await rm(dir, { recursive: true, force: true });
  return {
    wallMs: summary.wallMs,
    processWallMs: result.wallMs,
    imagesPerSecond: summary.jobsPerSecond,
    steadyImagesPerSecond: summary.steadyJobsPerSecond,
    firstDoneMs: summary.firstDoneMs,
    maxRssMb: summary.maxRssMb,
    mainThreadBusyMs: summary.mainThreadBusyMs,
    options: summary.options,
  };
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

export default {
  name: 'models',
  title: 'Models: nsfw, faces, anonymize, objects, embed and background on real photos',
  reproduce(entry) {
    const parts = ['npm run bench -- --suite models', `--repeat ${entry.settings.repeat}`];
    if (entry.settings.threadsFlag) parts.push(`--threads ${entry.settings.threadsFlag}`);
    return parts.join(' ');
  },

  async run({ sizes, repeat, threads, workDir: work }) {
    if (sizes) log(`models: --sizes is the engine suite's; the models corpus is ${PHOTO_COUNT} photos`);
    const size = PHOTO_COUNT;

    const corpus = await ensurePhotoCorpus(size);
    const evalCorpus = await ensureEvalCorpus();
    const single = await imgpipePools([...new Set(MODELS.map((m) => m.task))], threads);
    const chained = await imgpipePools(['faces', 'anonymize'], threads);
    const pools = {};
    for (const model of MODELS) {
      const pool = single.pools[model.task];
      pools[model.id] = { pool, variants: pool > 1 && !model.defaultPoolOnly ? [pool, 1] : [pool] };
    }
    log(`models: ${size} photos; imgpipe thread budget ${single.budget}; pools: ${MODELS.map((m) => `${m.id} ${pools[m.id].pool}`).join(', ')}; faces+anonymize ${chained.pools.faces}+${chained.pools.anonymize}`);

    // Accuracy, once (deterministic); it also warms up the face models and the photos' pages.
    const truth = await loadTruth();
    const accuracy = {};
    for (const model of MODELS.filter((m) => m.faceModel)) {
      const { results } = await facesResults(evalCorpus, path.join(work, 'accuracy'), ['--faces-model', model.faceModel]);
      accuracy[model.id] = SCORE_LEVELS.map(({ minScore }) => evaluate(truth, results, minScore));
      log(`models: accuracy ${model.id}: ${accuracy[model.id].map((e) => `score >= ${e.minScore}: ${e.matched}/${e.faces} found, ${e.falsePositives} false positives`).join('; ')}`);
    }
    // Untimed warm-up of nsfw (model files in the page cache).
    await measureImgpipe(work, evalCorpus, PHOTOS.length, ['nsfw'], [], threads, { pool: single.pools.nsfw, countTask: 'nsfw' });
    await warmFiles(corpus);

    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const sample = { repeat: r, models: {} };
      for (const model of MODELS) {
        const label = `models ${model.id}, repeat ${r}/${repeat}`;
        const { pool, variants } = pools[model.id];
        const runs = {};
        const steps = [];
        for (const workers of variants) {
          runs[workers] = {};
          const flags = workers === pool ? model.flags : [...model.flags, '--concurrency', `${model.task}=${workers}`];
          steps.push(async () => {
            runs[workers].imgpipe = await measureImgpipe(work, corpus, size, [model.task], flags, threads, { pool: workers, countTask: model.task });
            const m = runs[workers].imgpipe;
            log(`${label}: imgpipe ${workers} worker(s) ${m.imagesPerSecond.toFixed(2)} images/s (steady ${m.steadyImagesPerSecond?.toFixed(2)}), first result ${secs(m.firstDoneMs)}, ${m.maxRssMb} MB`);
          });
          steps.push(async () => {
            runs[workers].bare = await measureBare(work, corpus, size, model, workers);
            const m = runs[workers].bare;
            log(`${label}: bare ${workers} worker(s) ${m.imagesPerSecond.toFixed(2)} images/s (steady ${m.steadyImagesPerSecond?.toFixed(2)}), first result ${secs(m.firstDoneMs)}, ${m.maxRssMb} MB`);
          });
        }
        if (r % 2 === 0) steps.reverse();
        for (const step of steps) await step();
        const derived = {};
        for (const workers of variants) {
          const { imgpipe, bare } = runs[workers];
          derived[workers] = {
            throughputRatio: imgpipe.imagesPerSecond / bare.imagesPerSecond,
            steadyRatio: imgpipe.steadyImagesPerSecond / bare.steadyImagesPerSecond,
            firstDoneRatio: imgpipe.firstDoneMs / bare.firstDoneMs,
            rssRatio: imgpipe.maxRssMb / bare.maxRssMb,
          };
        }
        if (variants.length > 1) {
          derived.scaling = {
            imgpipe: runs[pool].imgpipe.imagesPerSecond / runs[1].imgpipe.imagesPerSecond,
            bare: runs[pool].bare.imagesPerSecond / runs[1].bare.imagesPerSecond,
            imgpipeSteady: runs[pool].imgpipe.steadyImagesPerSecond / runs[1].imgpipe.steadyImagesPerSecond,
          };
        }
        sample.models[model.id] = { runs, derived };
      }
      const anonymize = await measureImgpipe(work, corpus, size, ['faces', 'anonymize'], [], threads, { pool: chained.pools.anonymize, countTask: 'anonymize' });
      const facesAlone = sample.models['faces-accurate'].runs[pools['faces-accurate'].pool].imgpipe;
      sample.anonymize = { imgpipe: anonymize, vsFaces: anonymize.imagesPerSecond / facesAlone.imagesPerSecond, rssVsFaces: anonymize.maxRssMb / facesAlone.maxRssMb };
      log(`models anonymize, repeat ${r}/${repeat}: ${anonymize.imagesPerSecond.toFixed(2)} images/s (faces alone ${facesAlone.imagesPerSecond.toFixed(2)}), ${anonymize.maxRssMb} MB`);
      samples.push(sample);
    }
    return {
      settings: {
        size,
        repeat,
        threadsFlag: threads ?? null,
        imgpipeThreads: single.budget,
        pools,
        anonymizePools: chained.pools,
        mix: corpusMix(size),
        photos: PHOTOS.map((p) => ({ name: p.name, source: path.relative(ROOT_DIR, p.source), people: p.people })),
        matchIou: MATCH_IOU,
        truthFaces: truth.faces,
      },
      accuracy,
      samples,
    };
  },

  render(entry) {
    const { settings, samples, accuracy } = entry;
    // Results saved by an older version of this suite lack the models added since.
    const measured = MODELS.filter((m) => settings.pools[m.id] && samples.every((sample) => sample.models[m.id]));
    const pick = (get) => stats(samples.map(get));
    const ips = (value) => formatStats(value, { digits: 2 });
    const x = (value) => formatStats(value, { unit: '×', digits: 2 });
    const mb = (value) => formatStats(value, { unit: 'MB', digits: 0 });
    const s = (value) => formatStats(value, { unit: 's', scale: 1 / 1000, digits: 2 });
    const met = (ok) => (ok ? 'met' : '**not met**');
    const lines = [];

    // ---- imgpipe vs the bare loop, default pool ----
    const rows = [];
    for (const model of measured) {
      const { pool } = settings.pools[model.id];
      const run = (get) => pick((m) => get(m.models[model.id].runs[pool]));
      const ratio = (key) => pick((m) => m.models[model.id].derived[pool][key]);
      const r = ratio('throughputRatio');
      rows.push([`Throughput, images/s over the whole run (${pool} workers)`, model.label, ips(run((v) => v.imgpipe.imagesPerSecond)), ips(run((v) => v.bare.imagesPerSecond)), x(r), `≥ ${TARGETS.throughputRatio}×`, met(r.median >= TARGETS.throughputRatio)]);
      rows.push([`Steady throughput, images/s after the first ${pool * 2} results`, model.label, ips(run((v) => v.imgpipe.steadyImagesPerSecond)), ips(run((v) => v.bare.steadyImagesPerSecond)), x(ratio('steadyRatio')), '', '']);
      rows.push(['Start-up: first result (threads, model load, one image)', model.label, s(run((v) => v.imgpipe.firstDoneMs)), s(run((v) => v.bare.firstDoneMs)), x(ratio('firstDoneRatio')), '', '']);
      rows.push([`Peak RSS (${pool} workers)`, model.label, mb(run((v) => v.imgpipe.maxRssMb)), mb(run((v) => v.bare.maxRssMb)), x(ratio('rssRatio')), '', '']);
    }
    lines.push(
      `### imgpipe vs a bare loop (${settings.size} photos, imgpipe's default pool)`,
      '',
      `Threads: imgpipe \`--threads ${settings.imgpipeThreads}\`${settings.threadsFlag ? '' : ' (its default: the number of cores)'}; each task's default pool then has ${[...new Set(measured.map((m) => settings.pools[m.id].pool))].join(' / ')} worker threads, and the bare loop gets the same number. ` +
        `Corpus: ${settings.size} files, the ${settings.photos.length} photos below in turn (${settings.mix.withPeople} with people, ${settings.mix.withoutPeople} without). Each figure is the median of ${settings.repeat} run${settings.repeat === 1 ? '' : 's'}, [min–max] after it; ratios are computed within each repeat, then summarised.`,
      '',
      markdownTable(['Figure', 'Task', 'imgpipe', 'Bare loop (same run)', 'Ratio imgpipe / bare', 'Target', 'Met?'], rows),
      '',
    );

    // ---- pool size ----
    const poolRows = [];
    const best = [];
    for (const model of measured) {
      const { pool, variants } = settings.pools[model.id];
      if (variants.length < 2) continue;
      const run = (workers, get) => pick((m) => get(m.models[model.id].runs[workers]));
      const one = run(1, (v) => v.imgpipe.imagesPerSecond);
      const many = run(pool, (v) => v.imgpipe.imagesPerSecond);
      const scaling = pick((m) => m.models[model.id].derived.scaling.imgpipe);
      poolRows.push([
        model.label,
        ips(one),
        ips(many),
        x(scaling),
        x(pick((m) => m.models[model.id].derived.scaling.imgpipeSteady)),
        ips(run(1, (v) => v.bare.imagesPerSecond)),
        ips(run(pool, (v) => v.bare.imagesPerSecond)),
        x(pick((m) => m.models[model.id].derived.scaling.bare)),
        `${mb(run(1, (v) => v.imgpipe.maxRssMb))} / ${mb(run(pool, (v) => v.imgpipe.maxRssMb))}`,
        `${mb(run(1, (v) => v.bare.maxRssMb))} / ${mb(run(pool, (v) => v.bare.maxRssMb))}`,
      ]);
      // By the median ratio, beyond 5 % either way; how many repeats agree is said with it.
      const values = samples.map((m) => m.models[model.id].derived.scaling.imgpipe);
      const side = scaling.median > 1.05 ? 1 : scaling.median < 0.95 ? -1 : 0;
      const agree = values.filter((v) => (side === 1 ? v > 1.05 : side === -1 ? v < 0.95 : v >= 0.95 && v <= 1.05)).length;
      const winner = side === 1 ? `${pool} workers` : side === -1 ? '1 worker' : 'no clear difference';
      const verdict = `${winner} (${pool} ÷ 1 = ${x(scaling)}; ${agree} of ${values.length} repeats agree)`;
      best.push(`${model.label}: ${verdict}`);
    }
    if (poolRows.length > 0) {
      const pool = Math.max(...measured.map((m) => settings.pools[m.id].pool));
      lines.push(
        `### Pool size on this machine: 1 worker vs ${pool} (imgpipe's default on ${settings.imgpipeThreads} threads)`,
        '',
        `imgpipe with \`--concurrency TASK=1\` against its default; the bare loop with \`--threads 1\` against \`--threads ${pool}\`. Images/s over the whole run (start-up included, as a user sees it); *steady* compares the rates after start-up (defined below), which is what a long batch sees.`,
        '',
        markdownTable(['Task', 'imgpipe, 1 worker', `imgpipe, ${pool} workers (default)`, `${pool} ÷ 1`, `${pool} ÷ 1, steady`, 'Bare, 1 worker', `Bare, ${pool} workers`, `${pool} ÷ 1 (bare)`, 'imgpipe peak RSS, 1 / default', `Bare peak RSS, 1 / ${pool}`], poolRows),
        '',
        `Faster pool size by task (whole-run images/s, median ratio beyond ±5 %): ${best.join('; ')}.`,
        '',
      );
    }

    // ---- face accuracy ----
    const accRows = [];
    for (const model of measured.filter((m) => accuracy[m.id])) {
      const speed = pick((m) => m.models[model.id].runs[settings.pools[model.id].pool].imgpipe.imagesPerSecond);
      for (const [i, e] of accuracy[model.id].entries()) {
        const misses = Object.entries(e.perImage).filter(([, p]) => p.missed > 0).map(([name, p]) => `${name} ${p.missed}`);
        const falses = Object.entries(e.perImage).filter(([, p]) => p.falsePositives > 0).map(([name, p]) => `${name} ${p.falsePositives}`);
        accRows.push([
          model.label,
          SCORE_LEVELS[i].label,
          `${e.matched} / ${e.faces} (${formatNumber(e.recall * 100, 0)} %)`,
          String(e.falsePositives),
          [misses.length ? `missed: ${misses.join(', ')}` : '', falses.length ? `false: ${falses.join(', ')}` : ''].filter(Boolean).join('; ') || '—',
          e.medianIou === null ? '—' : formatNumber(e.medianIou, 2),
          i === 0 ? ips(speed) : '',
        ]);
      }
    }
    lines.push(
      '### Face detection: recall and false positives',
      '',
      `On the ${settings.photos.length} photos once (${settings.truthFaces} faces in the ${settings.photos.filter((p) => p.people).length} with people, none in the others), with each model's defaults (\`--faces-max-side\` 1024). ` +
        `Truth: \`bench/faces-truth.json\` (made with the accurate model at full resolution, every box checked by eye; \`node bench/faces-truth.js draw DIR\` draws truth and detections). ` +
        `A detection matches a face at IoU ≥ ${settings.matchIou}, one to one; false positives are detections at or above the threshold that match no face. Detections are deterministic, so this runs once per bench run.`,
      '',
      markdownTable(['Model', 'Detections kept', 'Recall', 'False positives', 'Where', 'Median IoU of matches', 'imgpipe images/s (above)'], accRows),
      '',
    );

    // ---- anonymize ----
    const a = (get) => pick((m) => get(m.anonymize));
    const facesPool = settings.pools['faces-accurate'].pool;
    const facesRun = (get) => pick((m) => get(m.models['faces-accurate'].runs[facesPool].imgpipe));
    lines.push(
      '### anonymize',
      '',
      `\`imgpipe run CORPUS --tasks faces,anonymize\` with its defaults (faces accurate; pools ${settings.anonymizePools.faces} + ${settings.anonymizePools.anonymize} workers sharing ${settings.imgpipeThreads} threads), against \`--tasks faces\` alone in the same repeat.`,
      '',
      markdownTable(
        ['Figure', 'faces + anonymize', 'faces alone (same run)', 'Ratio'],
        [
          ['Throughput, images/s (an image counts when both jobs are done)', ips(a((v) => v.imgpipe.imagesPerSecond)), ips(facesRun((v) => v.imagesPerSecond)), x(a((v) => v.vsFaces))],
          ['Steady throughput, images/s', ips(a((v) => v.imgpipe.steadyImagesPerSecond)), ips(facesRun((v) => v.steadyImagesPerSecond)), ''],
          ['Peak RSS', mb(a((v) => v.imgpipe.maxRssMb)), mb(facesRun((v) => v.maxRssMb)), x(a((v) => v.rssVsFaces))],
        ],
      ),
      '',
    );

    const demo = settings.photos.filter((p) => p.people);
    const others = settings.photos.filter((p) => !p.people);
    const photoList = `\`${path.dirname(demo[0].source)}/\` ${demo.map((p) => p.name).join(', ')} and ${others.map((p) => `\`${p.source}\``).join(', ')}`;
    lines.push(
      'How it is measured:',
      '',
      `- *Corpus*: ${photoList}, copied (byte-identical) into \`bench/.corpus/models/${settings.size}/\` in turn by \`bench/photos.js\`; every file is read once before the repeats.`,
      '- *imgpipe*: `node bin/imgpipe.js run CORPUS --tasks TASK [--faces-model fast] [--concurrency TASK=1] --db DB --out OUT --json` with a fresh ledger under `bench/.work/`. Images/s is the images of the corpus over the `durationMs` of its `summary` event (after Node start-up and module loading; it includes the scan, opening the pool, loading the model in each worker thread and the ledger). Peak RSS is the summary\'s `maxRssMb`, the whole process with its worker threads.',
      '- *bare loop*: `node bench/bare-loop.js --corpus CORPUS --task TASK [--option model=fast] --threads N`: a piscina pool of N threads on imgpipe\'s own worker entry (`dist/pipeline/worker.js`) fed the file list, 2×N jobs in flight, every job with the task\'s option defaults (as imgpipe passes them) and the same overrides; timed from creating the pool to destroying it, so it includes thread start-up and model loading like the imgpipe figure.',
      '- *Steady throughput* leaves the start-up out: the results after the first 2×workers, per second, from that result to the last (imgpipe: from the times of its `job` events; bare loop: from its reply times). *First result* is the time from the start of each clock to the first finished image.',
      '- The machine may be shared with other work (see the load average above): compare figures within a repeat (the ratios), not across runs.',
    );
    return lines.join('\n');
  },
};
