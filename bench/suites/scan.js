/**
 * Suite `scan`: what imgpipe's input side costs on large inputs, in time and peak memory:
 *   directory   `imgpipe run DIR --tasks meta --shard 1/10000` on the engine's 100,000-file
 *               corpus (bench/corpus.js, 100 folders): every file is listed and stat'd, its key
 *               hashed to a shard; the ~10 images of shard 1 get their job
 *   manifest    `imgpipe run MANIFEST.csv --tasks meta --shard 1/10000` on a 1,000,000-line CSV
 *               manifest (id,path: distinct ids, each path one of the 100,000 files): every line
 *               is parsed and its file stat'd; the ~100 images of shard 1 get their job
 * The shard keeps the task work negligible, so the time is the scan's: imgpipe has no
 * scan-only mode, and the shard filter runs after the stat, so nothing is skipped by it.
 * Baselines in the same repeat:
 *   start-up     `imgpipe run EMPTY_DIR --tasks meta` (Node, modules, a new ledger)
 *   bare scan    bench/scan-loop.js: the same listing or manifest reading and one lstat per file,
 *                64 in flight (imgpipe's stat-ahead), nothing else
 * All times spawn -> exit; the variants alternate order every repeat. Peak RSS: imgpipe's summary
 * (whole process), the bare scan's own.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { ensureCorpus } from '../corpus.js';
import { assertExitedCleanly, BenchFailure, formatNumber, formatStats, log, markdownTable, ROOT_DIR, runNode, stats } from '../lib.js';

const IMGPIPE = 'bin/imgpipe.js';
const QUICK = process.env.BENCH_QUICK === '1';
const FILES = QUICK ? 10_000 : 100_000;
const LINES = QUICK ? 100_000 : 1_000_000;
const SHARD = '1/10000';

/** The CSV manifest: `id,path`, LINES lines, line i naming file i mod FILES of the corpus. */
async function ensureManifest(corpus) {
  const file = path.join(ROOT_DIR, 'bench', '.corpus', `manifest-${LINES}-of-${FILES}.csv`);
  if (existsSync(file)) return file;
  log(`scan: writing a ${formatNumber(LINES, 0)}-line manifest`);
  const partial = `${file}.partial`;
  const out = createWriteStream(partial);
  out.write('id,path\n');
  for (let i = 0; i < LINES; i++) {
    const n = i % FILES;
    const folder = String(Math.floor(n / 1000)).padStart(3, '0');
    if (!out.write(`m${String(i).padStart(7, '0')},${corpus}/${folder}/img-${String(n).padStart(6, '0')}.jpg\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  await rename(partial, file);
  return file;
}

export default {
  name: 'scan',
  title: `Scan: ${formatNumber(FILES, 0)} files and a ${formatNumber(LINES, 0)}-line manifest, time and peak RSS`,

  async run({ repeat, threads, workDir: work }) {
    await mkdir(path.join(work, 'empty'), { recursive: true });
    const corpus = await ensureCorpus(FILES);
    const manifest = await ensureManifest(corpus);

    const imgpipe = (input, expectScanned) => async () => {
      const db = path.join(work, 'ledger.db');
      await rm(db, { force: true });
      await rm(`${db}-wal`, { force: true });
      const args = [IMGPIPE, 'run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json', ...(expectScanned ? ['--shard', SHARD] : []), ...(threads ? ['--threads', String(threads)] : [])];
      let summary;
      const result = await runNode(args, { onJson: (event) => event.event === 'summary' && (summary = event) });
      assertExitedCleanly('imgpipe run', args, result);
      if (summary?.images?.scanned !== expectScanned) throw new BenchFailure(`imgpipe run ${input}: scanned ${summary?.images?.scanned}, expected ${expectScanned}`);
      if (summary.jobs.failed !== 0) throw new BenchFailure(`imgpipe run ${input}: ${summary.jobs.failed} jobs failed`);
      return { wallMs: result.wallMs, maxRssMb: summary.maxRssMb, inShard: summary.images.inShard, jobs: summary.jobs.done };
    };
    const bare = (flag, input, expect) => async () => {
      const args = ['bench/scan-loop.js', flag, input];
      let summary;
      const result = await runNode(args, { onJson: (event) => event.event === 'scan-summary' && (summary = event) });
      assertExitedCleanly('scan loop', args, result);
      if (summary?.files !== expect) throw new BenchFailure(`scan loop ${input}: ${summary?.files} files, expected ${expect}`);
      return { wallMs: result.wallMs, maxRssMb: summary.maxRssMb };
    };

    // Untimed warm-up: the corpus' directory entries and inodes, the manifest's pages.
    await bare('--dir', corpus, FILES)();
    await bare('--manifest', manifest, LINES)();
    const samples = [];
    for (let r = 1; r <= repeat; r++) {
      const steps = [
        ['startup', imgpipe(path.join(work, 'empty'), 0)],
        ['directory', imgpipe(corpus, FILES)],
        ['bareDirectory', bare('--dir', corpus, FILES)],
        ['manifest', imgpipe(manifest, LINES)],
        ['bareManifest', bare('--manifest', manifest, LINES)],
      ];
      const m = {};
      for (const [id, step] of r % 2 === 0 ? [...steps].reverse() : steps) m[id] = await step();
      m.directoryVsBare = m.directory.wallMs / m.bareDirectory.wallMs;
      m.manifestVsBare = m.manifest.wallMs / m.bareManifest.wallMs;
      samples.push(m);
      log(`scan, repeat ${r}/${repeat}: start-up ${(m.startup.wallMs / 1000).toFixed(2)} s ${m.startup.maxRssMb} MB; ${FILES} files ${(m.directory.wallMs / 1000).toFixed(2)} s ${m.directory.maxRssMb} MB (bare ${(m.bareDirectory.wallMs / 1000).toFixed(2)} s); ${LINES} lines ${(m.manifest.wallMs / 1000).toFixed(2)} s ${m.manifest.maxRssMb} MB (bare ${(m.bareManifest.wallMs / 1000).toFixed(2)} s)`);
    }
    return { settings: { repeat, files: FILES, lines: LINES, shard: SHARD, threads: threads ?? null }, samples };
  },

  render(entry) {
    const { settings, samples } = entry;
    const pick = (get) => stats(samples.map(get));
    const s = (v) => formatStats(v, { unit: 's', scale: 1 / 1000, digits: 2 });
    const mb = (v) => formatStats(v, { unit: 'MB', digits: 0 });
    const x = (v) => formatStats(v, { unit: '×', digits: 2 });
    const perSecond = (count, get) => formatStats(pick((m) => count / (get(m) / 1000)), { digits: 0 });
    const rows = [
      ['Start-up: `run` on an empty directory', '0', s(pick((m) => m.startup.wallMs)), '', '', '', mb(pick((m) => m.startup.maxRssMb)), ''],
      [
        `Directory of ${formatNumber(settings.files, 0)} files (${Math.ceil(settings.files / 1000)} folders)`,
        formatNumber(settings.files, 0),
        s(pick((m) => m.directory.wallMs)),
        perSecond(settings.files, (m) => m.directory.wallMs - m.startup.wallMs),
        s(pick((m) => m.bareDirectory.wallMs)),
        x(pick((m) => m.directoryVsBare)),
        mb(pick((m) => m.directory.maxRssMb)),
        mb(pick((m) => m.bareDirectory.maxRssMb)),
      ],
      [
        `CSV manifest of ${formatNumber(settings.lines, 0)} lines (id,path)`,
        formatNumber(settings.lines, 0),
        s(pick((m) => m.manifest.wallMs)),
        perSecond(settings.lines, (m) => m.manifest.wallMs - m.startup.wallMs),
        s(pick((m) => m.bareManifest.wallMs)),
        x(pick((m) => m.manifestVsBare)),
        mb(pick((m) => m.manifest.maxRssMb)),
        mb(pick((m) => m.bareManifest.maxRssMb)),
      ],
    ];
    return [
      `\`imgpipe run INPUT --tasks meta --shard ${settings.shard} --json\` with a fresh ledger: every file is listed (or every manifest line parsed) and stat'd before the shard filter, and only the few images of shard 1 get a job (${formatNumber(samples[0].directory.jobs, 0)} and ${formatNumber(samples[0].manifest.jobs, 0)} here), so the time is the scan's. imgpipe has no scan-only mode; this is the honest stand-in. Baseline: \`bench/scan-loop.js\`, the same listing or line reading and one \`lstat\` per file with 64 in flight, nothing else. Spawn → exit; median of ${settings.repeat} runs [min–max]; the variants alternate order every repeat.`,
      '',
      markdownTable(['Input', 'Entries', 'imgpipe', 'Entries/s (start-up excluded)', 'Bare scan (same run)', 'imgpipe ÷ bare', 'imgpipe peak RSS', 'Bare scan peak RSS'], rows),
      '',
      `Peak RSS over the empty-directory start-up: +${formatNumber(pick((m) => m.directory.maxRssMb - m.startup.maxRssMb).median, 0)} MB for ${formatNumber(settings.files, 0)} files, +${formatNumber(pick((m) => m.manifest.maxRssMb - m.startup.maxRssMb).median, 0)} MB for ${formatNumber(settings.lines, 0)} manifest lines. (The bare scan lists a directory in one call, holding every entry at once; imgpipe walks it folder by folder and reads a manifest as a stream, 64 stats ahead.)`,
    ].join('\n');
  },
};
