/**
 * Suite `preprocess`: one job (auto-orient, any ICC profile to sRGB, fit inside 1024x1024
 * without enlarging, JPEG quality 85, metadata stripped) on the same camera-like corpora, by
 *   imgpipe        `imgpipe run CORPUS --tasks preprocess` (its defaults are exactly this job),
 *                  fresh ledger: every bit of bookkeeping included (scan, hashing, ledger, events)
 *   sharp loop     bench/sharp-loop.js: sharp on the main thread, as many images in flight as
 *                  imgpipe's pool has workers, one libvips thread each (the ceiling, the baseline)
 *   sharp-cli      `sharp -i 'CORPUS/*.jpg' -o OUT -f jpeg -q 85 --autoOrient resize 1024 1024
 *                  --fit inside --withoutEnlargement` (one process; sharp's own thread defaults)
 *   vipsthumbnail  under `parallel -j2`, one process per file: `-s '1024x1024>' -i srgb -e srgb
 *                  -o 'OUT/%s.jpg[Q=85,strip]'`
 *   mogrify        under `parallel -j2`, one process per file: `-format jpg -auto-orient -resize
 *                  '1024x1024>' -profile icc:sRGB.icc -quality 85 -strip`
 * Every figure is spawn -> exit wall time (process start-up included for all of them). Within a
 * repeat the tools run in an order that rotates by one every repeat, so that drift on a shared
 * machine hits each alike; ratios against the sharp loop are computed within the repeat.
 *
 * Same job, checked: after each run every output is opened and must have the expected upright
 * size (fit inside 1024, so turned files come out portrait), no orientation to apply, no profile
 * other than sRGB, and must look like the sharp loop's output of the same file (mean absolute
 * difference of 32x32 thumbnails, which catches a missed rotation or a P3 file left unconverted).
 * A tool that fails the check is reported as failing it, not dropped.
 *
 * Tools that are not installed are reported as skipped with the command that installs them
 * (`npm run bench -- --install-peers`).
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { assertExitedCleanly, BenchFailure, formatStats, log, markdownTable, runCommand, runNode, stats } from '../lib.js';
import { findPeer, INSTALL_PEERS } from '../peers.js';
import { ensurePreprocessCorpus } from '../preprocess-corpus.js';

const IMGPIPE = 'bin/imgpipe.js';
const FIT = 1024;
const TARGETS = { vsSharp: 0.9 };
/**
 * 99th percentile of the absolute differences (0-255) between 32x32 thumbnails above which an
 * output is not the same picture. Measured on this corpus: outputs converted to sRGB by any tool
 * differ from the sharp loop's by at most 2; a Display P3 file left unconverted by 7 to 22; a
 * missed rotation by far more.
 */
const SAME_PICTURE = 4;
/** BENCH_QUICK=1 (development of the harness): 8 and 16 files instead, figures not for the report. */
const QUICK = process.env.BENCH_QUICK === '1';
const CORPORA = [
  { id: 'camera', width: 3000, height: 2000, count: QUICK ? 8 : 64, label: '3000x2000 camera-like JPEGs (6 MP, 1.4-1.7 MB each)' },
  // A thousand, as a pile of web-sized images comes: on a few hundred the fixed start-up of each
  // tool (measured on its own below) would weigh more than the work per image.
  { id: 'small', width: 640, height: 480, count: QUICK ? 16 : 1000, label: '640x480 JPEGs' },
];

const TOOLS = [
  { id: 'imgpipe', label: 'imgpipe `run --tasks preprocess` (all bookkeeping included)' },
  { id: 'sharp', label: 'sharp in a bare loop, same images in flight (baseline)' },
  { id: 'sharp-cli', label: 'sharp-cli 6 (one process)', peers: ['sharp-cli'] },
  { id: 'vipsthumbnail', label: '`vipsthumbnail` under `parallel -j2`', peers: ['vipsthumbnail', 'parallel'] },
  { id: 'mogrify', label: 'ImageMagick `mogrify` under `parallel -j2`', peers: ['mogrify', 'parallel'] },
];

/** The size a file of WxH (upright) must come out at: inside FIT x FIT, never enlarged. */
function fitted(width, height) {
  const scale = Math.min(1, FIT / width, FIT / height);
  return [Math.round(width * scale), Math.round(height * scale)];
}

/** 32x32 RGB thumbnail of an output, for comparing pictures. */
async function thumbnail(file) {
  return sharp(file).resize(32, 32, { fit: 'fill' }).removeAlpha().raw().toBuffer();
}

/**
 * Checks every output of a run against the corpus' expectations and the reference outputs;
 * returns { ok, problems (up to 3), maxDifference }.
 */
async function checkOutputs(outDir, corpus, reference) {
  const problems = [];
  let maxDifference = 0;
  const names = new Set(await readdir(outDir));
  for (const file of corpus.files) {
    const outName = file.name.replace(/\.[^.]+$/, '.jpg');
    if (!names.has(outName)) {
      problems.push(`${outName}: missing`);
      continue;
    }
    const out = path.join(outDir, outName);
    const meta = await sharp(out).metadata();
    const [w, h] = fitted(file.uprightWidth, file.uprightHeight);
    if (Math.abs(meta.width - w) > 1 || Math.abs(meta.height - h) > 1) problems.push(`${outName}: ${meta.width}x${meta.height}, expected ${w}x${h}`);
    if (meta.orientation && meta.orientation !== 1) problems.push(`${outName}: EXIF orientation ${meta.orientation} left to apply`);
    if (meta.icc && !meta.icc.toString('latin1').includes('sRGB')) problems.push(`${outName}: an ICC profile other than sRGB`);
    if (meta.format !== 'jpeg') problems.push(`${outName}: ${meta.format}, not JPEG`);
    if (reference) {
      const [a, b] = [await thumbnail(out), reference.get(outName)];
      const differences = Array.from(a, (value, i) => Math.abs(value - b[i])).sort((p, q) => p - q);
      const difference = differences[Math.floor(differences.length * 0.99)];
      maxDifference = Math.max(maxDifference, difference);
      if (difference > SAME_PICTURE) problems.push(`${outName}: not the sharp loop's picture (99th percentile difference ${difference})`);
    }
  }
  return { ok: problems.length === 0, problems: problems.slice(0, 3), problemCount: problems.length, maxDifference };
}

/** sRGB ICC profile as a file (for mogrify's -profile), taken from what sharp writes. */
async function srgbProfile(work) {
  const tagged = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).withIccProfile('srgb').jpeg().toBuffer();
  const { icc } = await sharp(tagged).metadata();
  const file = path.join(work, 'sRGB.icc');
  await writeFile(file, icc);
  return file;
}

export default {
  name: 'preprocess',
  title: 'Preprocess: imgpipe against bare sharp and the peer CLIs, same job, same corpus',

  async run({ repeat, threads, workDir: work }) {
    const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
    const settings = resolveRunSettings(['.'], { tasks: 'preprocess', ...(threads ? { threads: String(threads) } : {}) }, {});
    const pool = settings.tasks[0].concurrency;
    const icc = await srgbProfile(work);
    const peers = Object.fromEntries(['sharp-cli', 'vipsthumbnail', 'mogrify', 'parallel'].map((name) => [name, findPeer(name)]));
    const jobs = String(settings.threads);
    const available = TOOLS.filter((tool) => (tool.peers ?? []).every((name) => !peers[name].missing));
    for (const tool of TOOLS.filter((t) => !available.includes(t))) {
      log(`preprocess: ${tool.id} skipped: ${tool.peers.filter((n) => peers[n].missing).join(', ')} not installed (${INSTALL_PEERS})`);
    }

    /** Runs one tool on one corpus into `out`; returns { wallMs, maxRssMb }. */
    const runTool = async (id, corpus, out) => {
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      const files = corpus.files.map((f) => path.join(corpus.dir, f.name));
      if (id === 'imgpipe') {
        const db = path.join(work, 'ledger.db');
        await rm(db, { force: true });
        const args = [IMGPIPE, 'run', corpus.dir, '--tasks', 'preprocess', '--db', db, '--out', out, '--json', ...(threads ? ['--threads', String(threads)] : [])];
        let summary;
        let runStart;
        let firstResult;
        const result = await runNode(args, {
          onJson: (event) => {
            if (event.event === 'summary') summary = event;
            else if (event.event === 'run-start') runStart = Date.parse(event.time);
            else if (event.event === 'job') firstResult ??= Date.parse(event.time);
          },
        });
        assertExitedCleanly('imgpipe run --tasks preprocess', args, result);
        if (summary?.jobs?.done !== files.length) throw new BenchFailure(`imgpipe: expected ${files.length} jobs done, got ${JSON.stringify(summary?.jobs)}`);
        // Its outputs keep the key's folders (none here) under OUT/preprocess/.
        return { wallMs: result.wallMs, maxRssMb: summary.maxRssMb, firstResultMs: firstResult - runStart, outputs: path.join(out, 'preprocess') };
      }
      if (id === 'sharp') {
        const args = ['bench/sharp-loop.js', '--corpus', corpus.dir, '--out', out, '--in-flight', String(pool)];
        let summary;
        const result = await runNode(args, { onJson: (event) => event.event === 'bare-summary' && (summary = event) });
        assertExitedCleanly('sharp loop', args, result);
        if (summary?.done !== files.length) throw new BenchFailure(`sharp loop: expected ${files.length} done, got ${summary?.done}: ${summary?.firstFailure}`);
        return { wallMs: result.wallMs, maxRssMb: summary.maxRssMb, outputs: out };
      }
      let command;
      let args;
      if (id === 'sharp-cli') {
        command = peers['sharp-cli'].path;
        args = ['-i', path.join(corpus.dir, '*.jpg'), '-o', out, '-f', 'jpeg', '-q', '85', '--autoOrient', 'resize', String(FIT), String(FIT), '--fit', 'inside', '--withoutEnlargement'];
      } else if (id === 'vipsthumbnail') {
        command = peers.parallel.path;
        args = ['--will-cite', '-j', jobs, `vipsthumbnail {} -s '${FIT}x${FIT}>' -i srgb -e srgb -o '${out}/%s.jpg[Q=85,strip]'`, ':::', ...files];
      } else {
        command = peers.parallel.path;
        args = ['--will-cite', '-j', jobs, `mogrify -path '${out}' -format jpg -auto-orient -resize '${FIT}x${FIT}>' -profile 'icc:${icc}' -quality 85 -strip {}`, ':::', ...files];
      }
      const result = await runCommand(command, args);
      if (result.code !== 0) throw new BenchFailure(`${id} failed (exit ${result.code}): ${command} ${args.slice(0, 12).join(' ')} ...\n${result.tail}`);
      return { wallMs: result.wallMs, maxRssMb: result.maxRssMb, outputs: out };
    };

    const corpora = [];
    for (const spec of CORPORA) corpora.push({ ...spec, ...(await ensurePreprocessCorpus(spec.width, spec.height, spec.count)) });

    // The reference pictures (the sharp loop's outputs), then one untimed run of every tool on
    // every corpus, which also checks that each does the same job.
    const checks = {};
    const references = {};
    for (const corpus of corpora) {
      const out = path.join(work, 'reference', corpus.id);
      const { outputs } = await runTool('sharp', corpus, out);
      references[corpus.id] = new Map();
      for (const file of corpus.files) {
        const name = file.name.replace(/\.[^.]+$/, '.jpg');
        references[corpus.id].set(name, await thumbnail(path.join(outputs, name)));
      }
      checks[corpus.id] = {};
      for (const tool of available) {
        const run = await runTool(tool.id, corpus, path.join(work, 'check', tool.id));
        checks[corpus.id][tool.id] = await checkOutputs(run.outputs, corpus, references[corpus.id]);
        const c = checks[corpus.id][tool.id];
        log(`preprocess ${corpus.id}: ${tool.id} warm-up ${(run.wallMs / 1000).toFixed(2)} s; outputs ${c.ok ? 'match the job' : `DO NOT match: ${c.problems.join('; ')}`} (largest difference ${c.maxDifference})`);
      }
    }

    // Start-up: the same commands on an empty folder, spawn -> exit: what every run pays once.
    const empty = { dir: path.join(work, 'empty'), files: [], count: 0 };
    await mkdir(empty.dir, { recursive: true });

    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const sample = { repeat: r, corpora: {}, startup: {} };
      for (const id of r % 2 ? ['imgpipe', 'sharp'] : ['sharp', 'imgpipe']) {
        sample.startup[id] = { wallMs: (await runTool(id, empty, path.join(work, 'out', id))).wallMs };
      }
      for (const corpus of corpora) {
        const order = available.map((_, i) => available[(i + r - 1) % available.length]);
        const runs = {};
        for (const tool of order) {
          const run = await runTool(tool.id, corpus, path.join(work, 'out', tool.id));
          runs[tool.id] = { wallMs: run.wallMs, imagesPerSecond: corpus.count / (run.wallMs / 1000), maxRssMb: run.maxRssMb, ...(run.firstResultMs !== undefined ? { firstResultMs: run.firstResultMs } : {}) };
        }
        for (const tool of available) runs[tool.id].vsSharp = runs[tool.id].imagesPerSecond / runs.sharp.imagesPerSecond;
        for (const tool of available) if (tool.id !== 'imgpipe') runs[tool.id].imgpipeOver = runs.imgpipe.imagesPerSecond / runs[tool.id].imagesPerSecond;
        sample.corpora[corpus.id] = runs;
        log(`preprocess ${corpus.id}, repeat ${r}/${repeat}: ${available.map((t) => `${t.id} ${runs[t.id].imagesPerSecond.toFixed(1)}/s`).join(', ')}`);
      }
      samples.push(sample);
    }
    return {
      settings: {
        repeat,
        threads: settings.threads,
        pool,
        parallelJobs: Number(jobs),
        corpora: corpora.map((c) => ({ id: c.id, label: c.label, width: c.width, height: c.height, count: c.count, megabytes: Math.round(c.files.reduce((s, f) => s + f.bytes, 0) / 2 ** 20), turned: c.files.filter((f) => f.orientation !== 1).length, p3: c.files.filter((f) => f.p3).length })),
        cpu: cpus()[0]?.model,
      },
      tools: TOOLS.map((tool) => {
        const missing = (tool.peers ?? []).filter((name) => peers[name].missing);
        return { id: tool.id, label: tool.label, skipped: missing.length > 0 ? `${missing.join(', ')} not installed; install with: ${missing.map((n) => peers[n].install).join('; ')}` : null, versions: Object.fromEntries((tool.peers ?? []).map((n) => [n, peers[n].version ?? null])) };
      }),
      checks,
      samples,
    };
  },

  render(entry) {
    const { settings, tools, checks, samples } = entry;
    const pick = (corpus, tool, get) => stats(samples.map((s) => s.corpora[corpus][tool]).filter(Boolean).map(get));
    const x = (v) => formatStats(v, { unit: '×', digits: 2 });
    const lines = [
      `The job: auto-orient, convert any ICC profile to sRGB, fit inside ${FIT}x${FIT} without enlarging, JPEG quality 85, metadata stripped. imgpipe runs ${settings.pool} workers on \`--threads ${settings.threads}\`; the sharp loop keeps ${settings.pool} images in flight with one libvips thread each; the CLIs run under \`parallel -j${settings.parallelJobs}\` (one process per file) or, for sharp-cli, as one process. Every time is spawn → exit, process start-up included for every tool. Median of ${settings.repeat} runs [min–max]; the tools run in an order that rotates every repeat, and ratios are computed within a repeat.`,
      '',
    ];
    const startup = (tool) => formatStats(stats(samples.map((s) => s.startup?.[tool]?.wallMs / 1000).filter(Number.isFinite)), { unit: 's', digits: 2 });
    lines.push(
      `Start-up, spawn → exit on an empty folder (part of every figure below, paid once a run): imgpipe ${startup('imgpipe')} (Node, its modules, the ledger), the sharp loop ${startup('sharp')} (Node and sharp). imgpipe's worker threads start with the first job and load sharp there: from the run's start to its first result took ${formatStats(stats(samples.flatMap((s) => Object.values(s.corpora).map((c) => c.imgpipe?.firstResultMs / 1000)).filter(Number.isFinite)), { unit: 's', digits: 2 })} (every corpus and repeat).`,
      '',
    );
    for (const corpus of settings.corpora) {
      const rows = [];
      for (const tool of tools) {
        if (tool.skipped) {
          rows.push([tool.label, `skipped: ${tool.skipped}`, '', '', '', '']);
          continue;
        }
        const check = checks[corpus.id][tool.id];
        const ips = pick(corpus.id, tool.id, (r) => r.imagesPerSecond);
        const vs = pick(corpus.id, tool.id, (r) => r.vsSharp);
        let target = '';
        if (tool.id === 'imgpipe') target = `≥ ${TARGETS.vsSharp}× bare sharp: ${vs.median >= TARGETS.vsSharp ? 'met' : '**not met**'}`;
        else if (tool.id !== 'sharp') {
          const over = pick(corpus.id, tool.id, (r) => r.imgpipeOver);
          target = `imgpipe ${x(over)} this: ${over.median > 1 ? 'faster, met' : '**not faster**'}`;
        }
        const version = Object.entries(tool.versions).filter(([n]) => n !== 'parallel').map(([, v]) => v).join(' ');
        rows.push([
          `${tool.label}${version ? ` (${version})` : ''}`,
          formatStats(ips, { digits: 1 }),
          tool.id === 'sharp' ? '1 (baseline)' : x(vs),
          formatStats(pick(corpus.id, tool.id, (r) => r.maxRssMb), { unit: 'MB', digits: 0 }),
          check.ok ? `yes (largest difference ${check.maxDifference})` : `**no**: ${check.problemCount} problems, e.g. ${check.problems[0]}`,
          target,
        ]);
      }
      lines.push(
        `### ${corpus.count} ${corpus.label}`,
        '',
        `${corpus.megabytes} MB in all; ${corpus.turned} stored turned with an EXIF orientation (6, 8 or 3), ${corpus.p3} in Display P3 with its profile.`,
        '',
        markdownTable(['Tool', 'Images/s', 'vs bare sharp (same repeat)', 'Peak RSS', 'Same job? (size, upright, sRGB, picture)', 'Target'], rows),
        '',
      );
    }
    lines.push(
      'How it is measured:',
      '',
      '- *Corpora* (`bench/preprocess-corpus.js`, generated once under `bench/.corpus/preprocess/`, never committed): file i is photo i mod 8 of the models corpus (the six face-api demo photos and two fixture photos), cropped around a seeded point, scaled to the size, with seeded grain so that it weighs what a camera JPEG weighs, quality 92; 3 files in 8 stored turned with EXIF orientation 6, 8 or 3, 1 in 3 converted to Display P3 and tagged.',
      '- *Peak RSS*: imgpipe and the sharp loop report their own process (worker threads included); the CLIs are measured by GNU time, which gives the largest single process: under `parallel -j2` two such processes run at once.',
      `- *Same job*: after an untimed warm-up run of each tool, each output must have the fitted upright size (±1 px), no EXIF orientation left, no ICC profile but sRGB, and a 32x32 thumbnail within ${SAME_PICTURE} (of 255, 99th percentile of the absolute differences) of the sharp loop's output of the same file: a P3 file left unconverted differs by 7-22 there, a missed rotation by far more.`,
      '- mogrify gets `-profile icc:sRGB.icc` after `-resize` (PEERS.md: a bare file name is skipped when the output format changes, and before `-resize` it is 2.6× slower); vipsthumbnail gets `-i srgb -e srgb` (converts P3, leaves untagged files alone). Neither gets a thread limit: each tool runs with its own defaults, as a user would run it.',
    );
    return lines.join('\n');
  },
};
