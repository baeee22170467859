/**
 * Suite `report`: `imgpipe report --html` on a 10,000-image ledger, against the target
 * of under 30 s. The ledger comes from `imgpipe run --tasks meta` on the engine suite's corpus
 * (10,000 distinct small JPEGs; untimed). Each repeat times, from spawn to exit:
 *   cold  a report into a new folder: every thumbnail and preview made, every data file written;
 *   warm  the same report again into that folder: pictures found up to date, data rewritten.
 * The corpus images are 64x48, so their pictures are cheap; what a real photo costs is measured
 * apart, on the models suite's eight distinct photos (1920 px demo photos and fixtures): a cold
 * report of them, per photo, start-up included.
 */
import { mkdir, rm, stat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureCorpus } from '../corpus.js';
import { ensureEvalCorpus } from '../photos.js';
import { assertExitedCleanly, BenchFailure, formatStats, log, markdownTable, runNode, stats } from '../lib.js';

const SIZE = 10_000;
const TARGET_SECONDS = 30;
const IMGPIPE = 'bin/imgpipe.js';

/** One `imgpipe report --json`: wall time from spawn to exit, and what it says it made. */
async function timeReport(what, args) {
  let written;
  const result = await runNode(args, { onJson: (event) => (written = event) });
  assertExitedCleanly(what, args, result);
  if (!written) throw new BenchFailure(`${what}: no JSON line on stdout: node ${args.join(' ')}`);
  return { seconds: result.wallMs / 1000, inside: written.seconds, images: written.images, made: written.pictures.made, reused: written.pictures.reused, failed: written.pictures.failed };
}

async function folderBytes(dir) {
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

export default {
  name: 'report',
  title: 'report: `imgpipe report --html` on 10,000 images',
  reproduce(entry) {
    return `npm run bench -- --suite report --repeat ${entry.settings.repeat}`;
  },

  async run({ repeat, threads, workDir }) {
    const work = path.join(workDir, 'report');
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
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
      samples.push({ cold: cold.seconds, warm: warm.seconds, indexBytesPerImage: bytes / SIZE, dataMb: (await folderBytes(path.join(html, 'data'))) / 1e6 });
      log(`report, repeat ${r}/${repeat}: cold ${cold.seconds.toFixed(1)} s, warm ${warm.seconds.toFixed(1)} s`);
      await rm(html, { recursive: true, force: true });
    }

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
    await rm(work, { recursive: true, force: true });
    return { settings: { size: SIZE, repeat, threads: budget, target: TARGET_SECONDS }, samples, photoSamples };
  },

  render(entry) {
    const { settings, samples, photoSamples } = entry;
    const cold = stats(samples.map((s) => s.cold));
    const warm = stats(samples.map((s) => s.warm));
    const perPhoto = stats(photoSamples.map((s) => s.msPerPhoto));
    return [
      `A ledger of ${settings.size.toLocaleString('en-US')} images with \`meta\` results (the engine suite's corpus: distinct 64x48 JPEGs), \`--threads ${settings.threads}\`. Wall time of \`imgpipe report --html\` from spawn to exit, Node start-up included; median of ${settings.repeat} runs [min–max].`,
      '',
      markdownTable(
        ['Figure', 'Measured', 'Target', 'Met?'],
        [
          ['Cold: new folder, every picture made', formatStats(cold, { unit: 's', digits: 1 }), `< ${settings.target} s`, cold.median < settings.target ? 'met' : '**not met**'],
          ['Warm: same folder again, pictures up to date', formatStats(warm, { unit: 's', digits: 1 }), '', ''],
          ['Gallery index, bytes per image', formatStats(stats(samples.map((s) => s.indexBytesPerImage)), { digits: 0 }), '', ''],
          ['All data files (MB)', formatStats(stats(samples.map((s) => s.dataMb)), { digits: 1 }), '', ''],
          [`Real photos: cold report of ${photoSamples[0].photos} distinct photos (1920 px and fixtures), ms per photo (start-up excluded)`, formatStats(perPhoto, { digits: 0 }), '', ''],
        ],
      ),
      '',
      'The 30 s target holds for small images and for any report whose pictures are up to date; for camera-sized photos the first report is bound by decoding them (the last row: multiply by the number of photos and divide by the cores).',
    ].join('\n');
  },
};
