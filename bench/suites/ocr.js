/**
 * Suite `ocr`: the document fixture (fixtures/documents/page.png, with its transcript page.txt)
 * upright and turned 90, 180 and 270 degrees, PAGES files in all. Pages per second through
 * `imgpipe run --tasks ocr` against the bare loop (bench/bare-loop.js --task ocr, same worker
 * code, options and thread count) in the same repeat, and the character error rate of what
 * imgpipe read on each orientation against the transcript. (Native tesseract side by side is the
 * peers suite's job.)
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { assertExitedCleanly, formatStats, log, markdownTable, pairedRepeats, ROOT_DIR, runNode, stats, timeBareLoop, timeImgpipeRun } from '../lib.js';

const PAGES = 8;
const ANGLES = [0, 90, 180, 270];
const TARGETS = { throughputRatio: 0.9, cer: 0.02 };
const IMGPIPE = 'bin/imgpipe.js';
const BARE = 'bench/bare-loop.js';
const SOURCE = path.join(ROOT_DIR, 'fixtures', 'documents', 'page.png');

/** Character error rate: edit distance / reference length, layout whitespace ignored. */
export function characterErrorRate(reference, hypothesis) {
  const a = reference.replace(/\s+/g, ' ').trim();
  const b = hypothesis.replace(/\s+/g, ' ').trim();
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length] / a.length;
}

async function ensureCorpus() {
  const dir = path.join(ROOT_DIR, 'bench', '.corpus', 'ocr', String(PAGES));
  const marker = path.join(dir, '.complete');
  if (existsSync(marker)) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < PAGES; i++) {
    const angle = ANGLES[i % ANGLES.length];
    const file = path.join(dir, `page-${String(i).padStart(2, '0')}-${angle}.png`);
    if (angle === 0) await copyFile(SOURCE, file);
    else await sharp(SOURCE).rotate(angle).png().toFile(file);
  }
  await writeFile(marker, 'ok\n');
  return dir;
}

export default {
  name: 'ocr',
  title: 'OCR: pages per second against a bare loop, and character error rate',

  async run({ repeat, threads, workDir: work }) {
    const corpus = await ensureCorpus();
    const transcript = await readFile(path.join(ROOT_DIR, 'fixtures', 'documents', 'page.txt'), 'utf8');
    const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
    const settings = resolveRunSettings(['.'], { tasks: 'ocr', ...(threads ? { threads: String(threads) } : {}) }, {});
    const pool = settings.tasks[0].concurrency;
    let cer;
    const samples = await pairedRepeats(
      'ocr',
      repeat,
      async () => {
        const db = path.join(work, 'ocr.db');
        await rm(db, { force: true });
        const args = [IMGPIPE, 'run', corpus, '--tasks', 'ocr', '--db', db, '--out', path.join(work, 'out'), '--json', ...(threads ? ['--threads', String(threads)] : [])];
        const timed = await timeImgpipeRun('imgpipe run --tasks ocr', args, PAGES);
        // What was read: the same every repeat (tesseract is deterministic), kept from the last.
        const texts = {};
        const exportArgs = [IMGPIPE, 'export', '--db', db, '--task', 'ocr'];
        assertExitedCleanly('imgpipe export', exportArgs, await runNode(exportArgs, { onJson: (record) => (texts[record.key] = record.result) }));
        cer = Object.fromEntries(ANGLES.map((angle) => [angle, stats(Object.entries(texts).filter(([key]) => key.endsWith(`-${angle}.png`)).map(([, result]) => characterErrorRate(transcript, result.text))).median]));
        return timed;
      },
      () => timeBareLoop([BARE, '--corpus', corpus, '--out', path.join(work, 'bare'), '--threads', String(pool), '--task', 'ocr'], PAGES),
    );
    log(`ocr: character error rate ${ANGLES.map((a) => `${a}°: ${(cer[a] * 100).toFixed(2)} %`).join(', ')}`);
    return { settings: { pages: PAGES, angles: ANGLES, repeat, pool, threads: settings.threads }, cer, samples };
  },

  render(entry) {
    const { settings, samples, cer } = entry;
    const pick = (get) => stats(samples.map(get));
    const met = (ok) => (ok ? 'met' : '**not met**');
    const ratio = pick((s) => s.ratio);
    const rows = [
      ['Pages per second', formatStats(pick((s) => s.imgpipe.imagesPerSecond), { digits: 2 }), formatStats(pick((s) => s.bare.imagesPerSecond), { digits: 2 }), formatStats(ratio, { unit: '×', digits: 2 }), `≥ ${TARGETS.throughputRatio}×`, met(ratio.median >= TARGETS.throughputRatio)],
      ['Peak RSS', formatStats(pick((s) => s.imgpipe.maxRssMb), { unit: 'MB', digits: 0 }), formatStats(pick((s) => s.bare.maxRssMb), { unit: 'MB', digits: 0 }), '', '', ''],
      ...settings.angles.map((angle) => [`Character error rate, page turned ${angle}°`, `${(cer[angle] * 100).toFixed(2)} %`, '', '', `< ${TARGETS.cer * 100} %`, met(cer[angle] < TARGETS.cer)]),
    ];
    return [
      `${settings.pages} files: \`fixtures/documents/page.png\` (a rendered page of 6 lines, transcript \`page.txt\`) upright and turned ${settings.angles.filter((a) => a).join(', ')} degrees, in turn. imgpipe with its defaults (\`--ocr-psm 3\`, \`--ocr-rotate auto\`: a page on its side is read at every rotation and the best kept), ${settings.pool} workers on ${settings.threads} threads; the bare loop on imgpipe's worker entry with the same options and threads. Median of ${settings.repeat} runs [min–max]; ratios within each repeat.`,
      '',
      markdownTable(['Figure', 'imgpipe', 'Bare loop (same run)', 'Ratio', 'Target', 'Met?'], rows),
    ].join('\n');
  },
};
