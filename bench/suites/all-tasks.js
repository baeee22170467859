/**
 * Suite `all-tasks`: every built-in task in one `imgpipe run` on the models suite's photos
 * (bench/photos.js), with the defaults: throughput, peak RSS, and where the time goes.
 *
 *   all           meta, preprocess, nsfw, faces, anonymize, objects, embed, labels, ocr, logos
 *                 (with the fixture gallery, --logos-from fixtures/logos/gallery) and background
 *   without background   the same less background (IS-Net takes seconds an image and dominates)
 *
 * Each run has a fresh ledger; the two alternate order every repeat. Throughput is images (all
 * their jobs done) per second over the summary's durationMs; peak RSS is the summary's maxRssMb
 * (the whole process, every pool's worker threads included). Where the time goes: per task, the
 * sum of its jobs' `duration_ms` in the ledger (time inside a worker, reading the file included),
 * as a share of all tasks' sum, and the mean per image.
 */
import Database from 'better-sqlite3';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BenchFailure, formatStats, log, markdownTable, ROOT_DIR, stats, timeImgpipeRun } from '../lib.js';
import { ensurePhotoCorpus } from '../photos.js';

const IMGPIPE = 'bin/imgpipe.js';
const PHOTOS = process.env.BENCH_QUICK === '1' ? 4 : 8;
const GALLERY = path.join(ROOT_DIR, 'fixtures', 'logos', 'gallery');
const ALL = ['meta', 'preprocess', 'nsfw', 'faces', 'anonymize', 'objects', 'embed', 'labels', 'ocr', 'logos', 'background'];
const VARIANTS = [
  { id: 'all', label: 'all 11 tasks', tasks: ALL },
  { id: 'light', label: 'all but background (10 tasks)', tasks: ALL.filter((t) => t !== 'background') },
];

export default {
  name: 'all-tasks',
  title: 'All tasks at once on the photo corpus: throughput, peak RSS, where the time goes',

  async run({ repeat, threads, workDir: work }) {
    const corpus = await ensurePhotoCorpus(PHOTOS);
    const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
    const settings = resolveRunSettings(['.'], { tasks: ALL.join(','), logosFrom: GALLERY, ...(threads ? { threads: String(threads) } : {}) }, {});
    const pools = Object.fromEntries(settings.tasks.map((t) => [t.meta.name, t.concurrency]));

    const measure = async (variant) => {
      const db = path.join(work, `${variant.id}.db`);
      await rm(db, { force: true });
      await rm(path.join(work, 'out'), { recursive: true, force: true });
      const args = [IMGPIPE, 'run', corpus, '--tasks', variant.tasks.join(','), '--logos-from', GALLERY, '--db', db, '--out', path.join(work, 'out'), '--json', ...(threads ? ['--threads', String(threads)] : [])];
      const timed = await timeImgpipeRun(`imgpipe run --tasks ${variant.tasks.join(',')}`, args, PHOTOS, PHOTOS * variant.tasks.length);
      const ledger = new Database(db, { readonly: true });
      const rows = ledger.prepare("SELECT task, count(*) AS jobs, sum(duration_ms) AS ms FROM jobs WHERE state = 'done' GROUP BY task").all();
      ledger.close();
      if (rows.length !== variant.tasks.length) throw new BenchFailure(`${variant.id}: ledger has done jobs for ${rows.length} tasks, expected ${variant.tasks.length}`);
      const total = rows.reduce((sum, row) => sum + row.ms, 0);
      return { ...timed, jobMsByTask: Object.fromEntries(rows.map((row) => [row.task, row.ms])), shareByTask: Object.fromEntries(rows.map((row) => [row.task, row.ms / total])), workerSeconds: total / 1000 };
    };

    // Untimed warm-up: model files in the page cache.
    await measure(VARIANTS[1]);
    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const sample = {};
      for (const variant of r % 2 === 0 ? [...VARIANTS].reverse() : VARIANTS) {
        sample[variant.id] = await measure(variant);
        const m = sample[variant.id];
        const top = Object.entries(m.shareByTask).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([t, s]) => `${t} ${(s * 100).toFixed(0)} %`);
        log(`all-tasks ${variant.id}, repeat ${r}/${repeat}: ${m.imagesPerSecond.toFixed(3)} images/s, ${m.maxRssMb} MB; time: ${top.join(', ')}`);
      }
      samples.push(sample);
    }
    return { settings: { repeat, photos: PHOTOS, threads: settings.threads, pools, variants: VARIANTS }, samples };
  },

  render(entry) {
    const { settings, samples } = entry;
    const pick = (get) => stats(samples.map(get));
    const lines = [
      `${settings.photos} photos (the models corpus: the six face-api demo photos, 1920 px, and two fixture photos, in turn), every task with its defaults (\`--logos-from fixtures/logos/gallery\` for logos), \`--threads ${settings.threads}\`: each task's pool gets its default size (${Object.entries(settings.pools).map(([t, p]) => `${t} ${p}`).join(', ')}) and the scheduler keeps at most ${settings.threads} jobs running across them. Median of ${settings.repeat} runs [min–max].`,
      '',
      markdownTable(
        ['Run', 'Images/s (all their jobs done)', 'Seconds an image', 'Peak RSS (whole process)', 'Worker time, all jobs'],
        settings.variants.map((v) => [
          `${v.label}: \`--tasks ${v.tasks.join(',')}\``,
          formatStats(pick((s) => s[v.id].imagesPerSecond), { digits: 3 }),
          formatStats(pick((s) => 1 / s[v.id].imagesPerSecond), { unit: 's', digits: 2 }),
          formatStats(pick((s) => s[v.id].maxRssMb), { unit: 'MB', digits: 0 }),
          formatStats(pick((s) => s[v.id].workerSeconds), { unit: 's', digits: 1 }),
        ]),
      ),
      '',
      'Where the time goes: per task, its jobs\' time inside a worker (the ledger\'s `duration_ms`, summed) as a share of all jobs\' time, and per image. The first job in each worker includes loading its model, and jobs of different tasks share the cores, so a task\'s time here is longer than alone (models suite).',
      '',
    ];
    const tasks = settings.variants[0].tasks;
    const rows = tasks
      .map((task) => [task, pick((s) => s.all.shareByTask[task])?.median ?? 0])
      .sort((a, b) => b[1] - a[1])
      .map(([task]) => [
        `\`${task}\``,
        ...settings.variants.map((v) =>
          v.tasks.includes(task)
            ? `${formatStats(pick((s) => s[v.id].shareByTask[task] * 100), { unit: '%', digits: 1 })} · ${formatStats(pick((s) => s[v.id].jobMsByTask[task] / settings.photos), { unit: 'ms', digits: 0 })}`
            : '—',
        ),
      ]);
    lines.push(markdownTable(['Task', ...settings.variants.map((v) => `${v.label}: share · ms an image`)], rows));
    return lines.join('\n');
  },
};
