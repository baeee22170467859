/**
 * Suite `labels`: the labels task alone, through imgpipe and in the bare loop, on the models
 * suite's photo corpus. Its prerequisites (meta, nsfw, faces, objects, embed) run once, untimed,
 * into a base ledger. Each repeat then times
 *   imgpipe  `imgpipe run CORPUS --tasks labels` on a copy of that ledger with its labels jobs
 *            deleted, so that only labels runs (the prerequisites are found done);
 *   bare     bench/bare-loop.js --task labels --inputs-db BASE: the same worker, fed the same
 *            prerequisite results and vectors from the base ledger, with the same threads.
 * labels runs no model of its own (its rules read the prerequisites' results), so its jobs take
 * milliseconds and imgpipe's fixed costs (scan, plan, pool start) weigh more here than anywhere.
 */
import { copyFile, rm } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ensurePhotoCorpus } from '../photos.js';
import { assertExitedCleanly, formatStats, log, markdownTable, pairedRepeats, runNode, stats, timeBareLoop, timeImgpipeRun } from '../lib.js';

const SIZE = 40;
const TARGETS = { throughputRatio: 0.9 };
const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';

export default {
  name: 'labels',
  title: 'labels: imgpipe against a bare loop fed the same prerequisite results',

  async run({ repeat, threads, workDir: work }) {
    const corpus = await ensurePhotoCorpus(SIZE);
    const budget = threads ?? (await import('node:os')).availableParallelism();
    const base = path.join(work, 'base.db');
    const prepare = [IMGPIPE, 'run', corpus, '--tasks', 'labels', '--db', base, '--out', path.join(work, 'out'), '--quiet', '--threads', String(budget)];
    log(`labels: prerequisites for ${SIZE} photos (untimed)`);
    assertExitedCleanly('imgpipe run --tasks labels (prerequisites)', prepare, await runNode(prepare));
    const samples = await pairedRepeats(
      'labels',
      repeat,
      async () => {
        const db = path.join(work, 'run.db');
        await rm(db, { force: true });
        await copyFile(base, db);
        const ledger = new Database(db);
        ledger.prepare("DELETE FROM jobs WHERE task = 'labels'").run();
        ledger.close();
        const args = [IMGPIPE, 'run', corpus, '--tasks', 'labels', '--db', db, '--out', path.join(work, 'out'), '--json', '--threads', String(budget)];
        return timeImgpipeRun('imgpipe run --tasks labels', args, SIZE);
      },
      () => timeBareLoop([BARE, '--corpus', corpus, '--out', path.join(work, 'bare'), '--threads', String(budget), '--task', 'labels', '--inputs-db', base], SIZE),
    );
    return { settings: { size: SIZE, repeat, threads: budget }, samples };
  },

  render(entry) {
    const { settings, samples } = entry;
    const pick = (get) => stats(samples.map(get));
    const ratio = pick((s) => s.ratio);
    return [
      `${settings.size} photos (the models suite's corpus); prerequisites done beforehand, only the labels jobs timed; \`--threads ${settings.threads}\` for both. Median of ${settings.repeat} runs [min–max].`,
      '',
      markdownTable(
        ['Figure', 'imgpipe', 'Bare loop (same run)', 'Ratio', 'Target', 'Met?'],
        [
          ['Images per second (labels only)', formatStats(pick((s) => s.imgpipe.imagesPerSecond), { digits: 1 }), formatStats(pick((s) => s.bare.imagesPerSecond), { digits: 1 }), formatStats(ratio, { unit: '×', digits: 2 }), `≥ ${TARGETS.throughputRatio}×`, ratio.median >= TARGETS.throughputRatio ? 'met' : '**not met**'],
          ['Peak RSS', formatStats(pick((s) => s.imgpipe.maxRssMb), { unit: 'MB', digits: 0 }), formatStats(pick((s) => s.bare.maxRssMb), { unit: 'MB', digits: 0 }), '', '', ''],
        ],
      ),
    ].join('\n');
  },
};
