/**
 * Suite `engine`: what imgpipe's own machinery (scan, ledger, scheduler, JSON events) costs on
 * top of the task work, measured with the real CLI against a bare piscina loop doing the same
 * `meta` work in the same run.
 *
 * For every size N and every repeat, in this order (the bare loop and imgpipe swap places on
 * every other repeat, so that slow drift from other load on the machine hits both):
 *   start-up  `imgpipe run EMPTY_DIR --tasks meta --json` on a fresh ledger (spawn -> exit)
 *   bare      bench/bare-loop.js on the corpus (timed inside: pool creation -> pool destroyed;
 *             the file list is made (recursive readdir) before the clock starts)
 *   imgpipe   `imgpipe run CORPUS --tasks meta --json` on a fresh ledger (spawn -> exit)
 *   re-run    the very same command again on that finished ledger (spawn -> exit); it must
 *             report that nothing was done
 * Derived figures (ratios, per-job costs) are computed within each repeat, then summarised.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ensureCorpus, warmCorpus } from '../corpus.js';
import {
  assertExitedCleanly,
  BenchFailure,
  formatNumber,
  formatStats,
  log,
  markdownTable,
  ROOT_DIR,
  runNode,
  stats,
} from '../lib.js';

const TARGETS = {
  bookkeepingMsPerJob: 0.5,
  rerunSeconds: 2,
  rerunAtImages: 10_000,
  rssGrowth: 1.2,
};

const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';

/** The worker pool imgpipe itself would give `meta` under this thread budget (its own settings code). */
async function imgpipePool(threads) {
  const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
  const flags = { tasks: 'meta', ...(threads ? { threads: String(threads) } : {}) };
  const settings = resolveRunSettings(['.'], flags, {});
  const meta = settings.tasks.find((t) => t.meta.name === 'meta');
  return { budget: settings.threads, poolSize: meta.concurrency, threadsPerJob: meta.threadsPerJob };
}

function imgpipeArgs(input, dir, threads) {
  const args = [IMGPIPE, 'run', input, '--tasks', 'meta', '--db', path.join(dir, 'ledger.db'), '--out', path.join(dir, 'out'), '--json'];
  if (threads) args.push('--threads', String(threads));
  return args;
}

/** Runs imgpipe with --json; returns its summary event and spawn-to-exit wall time. */
async function runImgpipe(what, args, { progressLabel } = {}) {
  let summary;
  let firstFailure;
  let lastProgress = performance.now();
  const result = await runNode(args, {
    onJson: (event) => {
      if (event.event === 'summary') summary = event;
      else if (event.event === 'job' && event.state === 'failed') firstFailure ??= `${event.key}: ${event.code} ${event.message ?? ''}`;
      else if (event.event === 'warning') firstFailure ??= `warning: ${event.message}`;
      else if (event.event === 'progress' && progressLabel && performance.now() - lastProgress > 15_000) {
        lastProgress = performance.now();
        const task = event.tasks?.meta;
        log(`  ${progressLabel}: ${event.elapsedSeconds} s, ${task ? task.done + task.failed : '?'}/${task?.planned ?? '?'} jobs, ${event.jobsPerSecond} jobs/s`);
      }
    },
  });
  if (result.code !== 0 && firstFailure) result.tail = `first failure: ${firstFailure}\n${result.tail}`;
  assertExitedCleanly(what, args, result);
  if (!summary) throw new BenchFailure(`${what}: no summary event on stdout: node ${args.join(' ')}\n${result.tail}`);
  if (summary.exitCode !== 0 || summary.status !== 'completed') {
    throw new BenchFailure(`${what}: summary says status ${summary.status}, exitCode ${summary.exitCode}: node ${args.join(' ')}`);
  }
  return { wallMs: result.wallMs, summary, jsonLines: result.jsonLines };
}

async function measureStartup(work, threads) {
  const dir = path.join(work, 'startup');
  const empty = path.join(work, 'empty');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await mkdir(empty, { recursive: true });
  const { wallMs, summary } = await runImgpipe('imgpipe run on an empty directory', imgpipeArgs(empty, dir, threads));
  if (summary.images.scanned !== 0) throw new BenchFailure(`start-up run: expected 0 images in ${empty}, scanned ${summary.images.scanned}`);
  await rm(dir, { recursive: true, force: true });
  return { wallMs, durationMs: summary.durationMs, maxRssMb: summary.maxRssMb };
}

async function measureBare(work, corpus, size, poolSize) {
  const dir = path.join(work, 'bare');
  await rm(dir, { recursive: true, force: true });
  const args = [BARE, '--corpus', corpus, '--out', path.join(dir, 'out'), '--threads', String(poolSize), '--task', 'meta'];
  let summary;
  const result = await runNode(args, { onJson: (event) => event.event === 'bare-summary' && (summary = event) });
  if (summary?.failed > 0) {
    throw new BenchFailure(`bare loop: ${summary.failed} of ${summary.files} jobs failed, first: ${summary.firstFailure}: node ${args.join(' ')}`);
  }
  assertExitedCleanly('bare loop', args, result);
  if (!summary) throw new BenchFailure(`bare loop: no summary on stdout\n${result.tail}`);
  if (summary.done !== size) throw new BenchFailure(`bare loop: expected ${size} jobs done, got ${summary.done} (${summary.failed} failed: ${summary.firstFailure})`);
  await rm(dir, { recursive: true, force: true });
  return {
    wallMs: summary.wallMs,
    processWallMs: result.wallMs,
    listMs: summary.listMs,
    jobsPerSecond: summary.jobsPerSecond,
    maxRssMb: summary.maxRssMb,
    mainThreadBusyMs: summary.mainThreadBusyMs,
    threads: summary.threads,
    inFlight: summary.inFlight,
  };
}

async function measureImgpipe(work, corpus, size, threads, label) {
  const dir = path.join(work, 'imgpipe');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const args = imgpipeArgs(corpus, dir, threads);
  const first = await runImgpipe(`imgpipe run (${size} images, fresh ledger)`, args, { progressLabel: label });
  const { jobs, images } = first.summary;
  if (jobs.done !== size || images.scanned !== size) {
    throw new BenchFailure(`imgpipe run: expected ${size} images and jobs done, got ${images.scanned} scanned, ${jobs.done} done, ${jobs.failed} failed`);
  }
  // The same command again on the finished ledger: it must find nothing to do.
  const again = await runImgpipe(`imgpipe re-run (${size} images, finished ledger)`, args);
  if (again.summary.jobs.done !== 0) {
    throw new BenchFailure(`imgpipe re-run on a finished ledger did work: summary.jobs.done = ${again.summary.jobs.done} (expected 0); jobs ${JSON.stringify(again.summary.jobs)}`);
  }
  if (again.summary.jobs.alreadyDone !== size) {
    throw new BenchFailure(`imgpipe re-run: expected ${size} jobs already done, got ${JSON.stringify(again.summary.jobs)}`);
  }
  await rm(dir, { recursive: true, force: true });
  return {
    run: { wallMs: first.wallMs, durationMs: first.summary.durationMs, jobsPerSecond: first.summary.jobsPerSecond, maxRssMb: first.summary.maxRssMb, mainThreadBusyMs: first.summary.mainThreadBusyMs, jsonLines: first.jsonLines },
    rerun: { wallMs: again.wallMs, durationMs: again.summary.durationMs, maxRssMb: again.summary.maxRssMb },
  };
}

export default {
  name: 'engine',
  title: 'Engine: imgpipe run vs a bare worker loop',
  defaults: { sizes: [1000, 10000] },

  reproduce(entry) {
    const parts = ['npm run bench -- --suite engine', `--sizes ${entry.settings.sizes.join(',')}`, `--repeat ${entry.settings.repeat}`];
    if (entry.settings.threadsFlag) parts.push(`--threads ${entry.settings.threadsFlag}`);
    return parts.join(' ');
  },

  async run({ sizes, repeat, threads, workDir: work }) {
    const pool = await imgpipePool(threads);
    log(`engine: imgpipe thread budget ${pool.budget}, meta pool ${pool.poolSize} workers; bare loop: ${pool.poolSize} workers, ${pool.poolSize * 2} jobs in flight`);

    const corpora = {};
    for (const size of sizes) corpora[size] = await ensureCorpus(size);

    // Untimed warm-up: module files and corpus pages in the OS cache, so repeat 1 is not special.
    await measureStartup(work, threads);
    const samples = {};
    for (const size of sizes) {
      log(`engine: ${size} images: warming the page cache`);
      await warmCorpus(corpora[size]);
      samples[size] = [];
      for (let r = 1; r <= repeat; r++) {
        const label = `engine ${size} images, repeat ${r}/${repeat}`;
        const startup = await measureStartup(work, threads);
        log(`${label}: start-up (empty dir) ${(startup.wallMs / 1000).toFixed(2)} s`);
        let bare;
        let imgpipe;
        const doBare = async () => {
          bare = await measureBare(work, corpora[size], size, pool.poolSize);
          log(`${label}: bare loop ${(bare.wallMs / 1000).toFixed(2)} s, ${bare.jobsPerSecond.toFixed(1)} jobs/s, ${bare.maxRssMb} MB`);
        };
        const doImgpipe = async () => {
          imgpipe = await measureImgpipe(work, corpora[size], size, threads, label);
          log(`${label}: imgpipe ${(imgpipe.run.wallMs / 1000).toFixed(2)} s, ${imgpipe.run.jobsPerSecond} jobs/s, ${imgpipe.run.maxRssMb} MB; re-run ${(imgpipe.rerun.wallMs / 1000).toFixed(2)} s`);
        };
        if (r % 2 === 1) {
          await doBare();
          await doImgpipe();
        } else {
          await doImgpipe();
          await doBare();
        }
        samples[size].push({
          repeat: r,
          startup,
          bare,
          imgpipe: imgpipe.run,
          rerun: imgpipe.rerun,
          derived: {
            wallRatio: imgpipe.run.wallMs / bare.wallMs,
            throughputRatio: imgpipe.run.jobsPerSecond / bare.jobsPerSecond,
            bookkeepingMsPerJob: (imgpipe.run.wallMs - bare.wallMs) / size,
            mainThreadMsPerJob: imgpipe.run.mainThreadBusyMs / size,
            bareMainThreadMsPerJob: bare.mainThreadBusyMs / size,
            bookkeepingCpuMsPerJob: (imgpipe.run.mainThreadBusyMs - bare.mainThreadBusyMs) / size,
            bookkeepingMsPerJobWithoutStartup: (imgpipe.run.wallMs - startup.wallMs - bare.wallMs) / size,
            rssRatio: imgpipe.run.maxRssMb / bare.maxRssMb,
            rerunVsStartup: imgpipe.rerun.wallMs / startup.wallMs,
          },
        });
      }
    }
    return { settings: { sizes, repeat, threadsFlag: threads ?? null, imgpipeThreads: pool.budget, poolSize: pool.poolSize, bareInFlight: pool.poolSize * 2 }, samples };
  },

  render(entry) {
    const { settings, samples } = entry;
    const sizes = settings.sizes;
    const pick = (size, get) => stats(samples[size].map(get));
    const s = (value) => formatStats(value, { unit: 's', scale: 1 / 1000 });
    const ms = (value) => formatStats(value, { unit: 'ms', digits: 2 });
    const x = (value) => formatStats(value, { unit: '×', digits: 2 });
    const n = (value) => formatStats(value, { digits: 1 });
    const mb = (value) => formatStats(value, { unit: 'MB', digits: 0 });
    const met = (ok) => (ok ? 'met' : '**not met**');
    const images = (size) => formatNumber(size, 0);
    const rows = [];

    for (const size of sizes) {
      rows.push(['Wall time, spawn → exit (baseline: bare loop, pool start → pool destroyed)', images(size), s(pick(size, (m) => m.imgpipe.wallMs)), s(pick(size, (m) => m.bare.wallMs)), x(pick(size, (m) => m.derived.wallRatio)), '', '']);
    }
    for (const size of sizes) {
      rows.push(['Throughput, jobs/s (imgpipe: its summary; baseline: bare loop)', images(size), n(pick(size, (m) => m.imgpipe.jobsPerSecond)), n(pick(size, (m) => m.bare.jobsPerSecond)), x(pick(size, (m) => m.derived.throughputRatio)), '', '']);
    }
    for (const size of sizes) {
      const cost = pick(size, (m) => m.derived.bookkeepingCpuMsPerJob);
      rows.push([
        'Bookkeeping per job, main-thread busy time: imgpipe − bare loop (both measured with the event loop utilisation of the main thread, where scanning, the ledger, scheduling and events run)',
        images(size),
        ms(pick(size, (m) => m.derived.mainThreadMsPerJob)),
        ms(pick(size, (m) => m.derived.bareMainThreadMsPerJob)),
        `+${ms(cost)}`,
        `< ${TARGETS.bookkeepingMsPerJob} ms`,
        met(cost.median < TARGETS.bookkeepingMsPerJob),
      ]);
    }
    for (const size of sizes) {
      const cost = pick(size, (m) => m.derived.bookkeepingMsPerJob);
      rows.push(['Bookkeeping per job, end to end: (imgpipe wall − bare wall) / jobs', images(size), ms(cost), '', '', `< ${TARGETS.bookkeepingMsPerJob} ms`, met(cost.median < TARGETS.bookkeepingMsPerJob)]);
    }
    for (const size of sizes) {
      const cost = pick(size, (m) => m.derived.bookkeepingMsPerJobWithoutStartup);
      rows.push(['Bookkeeping per job, start-up excluded: (imgpipe wall − empty-dir run wall − bare wall) / jobs', images(size), ms(cost), '', '', `< ${TARGETS.bookkeepingMsPerJob} ms`, met(cost.median < TARGETS.bookkeepingMsPerJob)]);
    }
    for (const size of sizes) {
      rows.push(['imgpipe start-up: `run` on an empty directory, spawn → exit', images(size), s(pick(size, (m) => m.startup.wallMs)), '', '', '', '']);
    }
    for (const size of sizes) {
      const rerun = pick(size, (m) => m.rerun.wallMs);
      const applies = size <= TARGETS.rerunAtImages;
      rows.push([
        'Re-run of the finished ledger (nothing to do), spawn → exit (baseline: empty-dir run)',
        images(size),
        s(rerun),
        s(pick(size, (m) => m.startup.wallMs)),
        x(pick(size, (m) => m.derived.rerunVsStartup)),
        `< ${TARGETS.rerunSeconds} s at ${formatNumber(TARGETS.rerunAtImages, 0)} images`,
        applies ? met(rerun.median < TARGETS.rerunSeconds * 1000) : 'n/a (larger than the target size)',
      ]);
    }
    for (const size of sizes) {
      rows.push(['Peak RSS, imgpipe process incl. worker threads (baseline: bare loop process)', images(size), mb(pick(size, (m) => m.imgpipe.maxRssMb)), mb(pick(size, (m) => m.bare.maxRssMb)), x(pick(size, (m) => m.derived.rssRatio)), '', '']);
    }
    for (const size of sizes) {
      rows.push(['Time per job, imgpipe (1000 / jobs/s; baseline: bare loop)', images(size), ms(pick(size, (m) => 1000 / m.imgpipe.jobsPerSecond)), ms(pick(size, (m) => 1000 / m.bare.jobsPerSecond)), x(pick(size, (m) => m.bare.jobsPerSecond / m.imgpipe.jobsPerSecond)), '', '']);
    }
    if (sizes.length > 1) {
      const small = Math.min(...sizes);
      const large = Math.max(...sizes);
      const perJob = (size, get) => 1000 / pick(size, get).median;
      const jobGrowth = perJob(large, (m) => m.imgpipe.jobsPerSecond) / perJob(small, (m) => m.imgpipe.jobsPerSecond);
      const bareJobGrowth = perJob(large, (m) => m.bare.jobsPerSecond) / perJob(small, (m) => m.bare.jobsPerSecond);
      rows.push([
        `Time per job growth, ${images(small)} → ${images(large)} images (ratio of the medians; baseline: the bare loop's)`,
        `${images(large)} / ${images(small)}`,
        `${formatNumber(jobGrowth, 2)}×`,
        `${formatNumber(bareJobGrowth, 2)}×`,
        `${formatNumber(jobGrowth / bareJobGrowth, 2)}×`,
        `≤ ${TARGETS.rssGrowth}× (flat)`,
        met(jobGrowth <= TARGETS.rssGrowth),
      ]);
      const rssSmall = pick(small, (m) => m.imgpipe.maxRssMb);
      const rssLarge = pick(large, (m) => m.imgpipe.maxRssMb);
      const growth = rssLarge.median / rssSmall.median;
      const bareGrowth = pick(large, (m) => m.bare.maxRssMb).median / pick(small, (m) => m.bare.maxRssMb).median;
      rows.push([
        `Peak RSS growth, ${images(small)} → ${images(large)} images (ratio of the medians; baseline: the bare loop's)`,
        `${images(large)} / ${images(small)}`,
        `${formatNumber(growth, 2)}×`,
        `${formatNumber(bareGrowth, 2)}×`,
        `${formatNumber(growth / bareGrowth, 2)}×`,
        `≤ ${TARGETS.rssGrowth}× (flat)`,
        met(growth <= TARGETS.rssGrowth),
      ]);
      // The same task code in the bare loop grows too (V8 heaps and libvips warming up in the
      // worker threads): what the engine itself adds is imgpipe's RSS over the bare loop's.
      const overheadSmall = rssSmall.median - pick(small, (m) => m.bare.maxRssMb).median;
      const overheadLarge = rssLarge.median - pick(large, (m) => m.bare.maxRssMb).median;
      rows.push([
        `Engine memory overhead (imgpipe peak RSS − bare loop peak RSS), ${images(small)} → ${images(large)} images`,
        `${images(large)} / ${images(small)}`,
        `${formatNumber(overheadLarge, 0)} MB vs ${formatNumber(overheadSmall, 0)} MB`,
        '',
        '',
        'flat (within 20 MB)',
        met(overheadLarge - overheadSmall <= 20),
      ]);
    }

    const first = samples[sizes[0]][0];
    const lines = [
      `Threads: imgpipe \`--threads ${settings.imgpipeThreads}\`${settings.threadsFlag ? '' : ' (its default: the number of cores)'}, which gives the \`meta\` pool ${settings.poolSize} worker threads; ` +
        `the bare loop uses a piscina pool of ${settings.poolSize} threads (min = max) on \`dist/pipeline/worker.js\`, keeping ${settings.bareInFlight} jobs in flight. ` +
        `Each figure is the median of ${settings.repeat} runs, [min–max] after it; ratios and per-job costs are computed within each repeat, then summarised.`,
      '',
      markdownTable(['Figure', 'Images', 'imgpipe', 'Baseline (same run)', 'Ratio imgpipe / baseline', 'Target', 'Met?'], rows),
      '',
      'How it is measured:',
      '',
      '- *imgpipe*: `node bin/imgpipe.js run CORPUS --tasks meta --db DB --out OUT --json` with a fresh ledger and output folder under `bench/.work/`; wall time from spawn to exit, so it includes Node start-up, module loading, scanning, the ledger and the JSON-lines events on stdout (one per job). Jobs/s and peak RSS are the `jobsPerSecond` and `maxRssMb` of its `summary` event (jobs/s is over its `durationMs`, which starts after module loading); the RSS is the whole process, worker threads included, since workers are threads.',
      `- *bare loop*: \`bench/bare-loop.js\`, a piscina pool on imgpipe's own worker entry fed the file list directly (same \`meta\` request objects and option defaults, \`inputs: {}\`), with no ledger, scheduler or events. The files are listed (recursive readdir) **before** its clock starts (the listing took ${formatNumber(first.bare.listMs, 0)} ms for ${images(sizes[0])} files); its wall time runs from creating the pool to destroying it, so it includes thread start-up but not Node start-up.`,
      '- *Bookkeeping per job* is what imgpipe adds to the same work, per job: end to end it includes the process start-up (Node, modules, opening the ledger), which weighs more at small sizes; "start-up excluded" also subtracts the wall time of the same `run` command on an empty directory, measured in the same repeat.',
      '- *Re-run*: the identical command run again on the ledger the measured run just finished; the bench fails unless its summary says `jobs.done === 0` and every job was already done.',
    ];
    return lines.join('\n');
  },
};
