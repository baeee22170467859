/**
 * Suite `ocr-peers`: imgpipe's ocr task (tesseract.js, its defaults) against native tesseract
 * (Debian's `tesseract-ocr`) on the document fixture, pages per second and character error rate
 * side by side, on two corpora made from fixtures/documents/page.png (transcript page.txt):
 *   upright   UPRIGHT copies of the page as it is
 *   turned    TURNED pages, the page upright and turned 90, 180 and 270 degrees in turn
 * Native tesseract runs as PEERS.md says it must on a small machine: `OMP_THREAD_LIMIT=1`, one
 * process per page under `parallel -jN` (N = imgpipe's thread budget), `--psm 3 --dpi 300` (what
 * imgpipe's --ocr-psm and --ocr-dpi defaults give tesseract.js). Times are spawn -> exit for both;
 * the two alternate which goes first every repeat. The CER is the same every repeat (both engines
 * are deterministic) and is taken from the first.
 */
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { assertExitedCleanly, BenchFailure, formatStats, log, markdownTable, ROOT_DIR, runCommand, runNode, stats } from '../lib.js';
import { findPeer, INSTALL_PEERS } from '../peers.js';
import { characterErrorRate } from './ocr.js';

const IMGPIPE = 'bin/imgpipe.js';
const SOURCE = path.join(ROOT_DIR, 'fixtures', 'documents', 'page.png');
const ANGLES = [0, 90, 180, 270];
const CORPORA = [
  { id: 'upright', pages: 8, angles: [0], label: 'upright pages' },
  { id: 'turned', pages: 8, angles: ANGLES, label: 'pages upright and turned 90, 180 and 270 degrees in turn' },
];

async function ensureCorpus(corpus) {
  const dir = path.join(ROOT_DIR, 'bench', '.corpus', 'ocr-peers', `${corpus.id}-${corpus.pages}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (let i = 0; i < corpus.pages; i++) {
    const angle = corpus.angles[i % corpus.angles.length];
    const file = path.join(dir, `page-${String(i).padStart(2, '0')}-${angle}.png`);
    if (angle === 0) await copyFile(SOURCE, file);
    else await sharp(SOURCE).rotate(angle).png().toFile(file);
  }
  await writeFile(path.join(dir, '.complete'), 'ok\n');
  return dir;
}

/** Median CER per angle of { key: text }. */
function cerByAngle(texts, transcript, angles) {
  return Object.fromEntries(
    angles.map((angle) => [angle, stats(Object.entries(texts).filter(([key]) => key.endsWith(`-${angle}`)).map(([, text]) => characterErrorRate(transcript, text))).median]),
  );
}

export default {
  name: 'ocr-peers',
  title: 'OCR: imgpipe (tesseract.js) against native tesseract, pages per second and character error rate',

  async run({ repeat, threads, workDir: work }) {
    const transcript = await readFile(path.join(ROOT_DIR, 'fixtures', 'documents', 'page.txt'), 'utf8');
    const { resolveRunSettings } = await import(new URL('../../dist/commands/run-settings.js', import.meta.url).href);
    const settings = resolveRunSettings(['.'], { tasks: 'ocr', ...(threads ? { threads: String(threads) } : {}) }, {});
    const pool = settings.tasks[0].concurrency;
    const { psm, dpi } = settings.tasks[0].options;
    const tesseract = findPeer('tesseract');
    const parallel = findPeer('parallel');
    const missing = [tesseract, parallel].filter((p) => p.missing);
    const skipped = missing.length > 0 ? `${missing.map((p) => p.name).join(', ')} not installed; install with: ${missing.map((p) => p.install).join('; ')}` : null;
    if (skipped) log(`ocr-peers: native tesseract skipped: ${skipped}`);

    const runImgpipe = async (dir, pages) => {
      const db = path.join(work, 'ocr.db');
      await rm(db, { force: true });
      const args = [IMGPIPE, 'run', dir, '--tasks', 'ocr', '--db', db, '--out', path.join(work, 'out'), '--json', ...(threads ? ['--threads', String(threads)] : [])];
      let summary;
      const result = await runNode(args, { onJson: (event) => event.event === 'summary' && (summary = event) });
      assertExitedCleanly('imgpipe run --tasks ocr', args, result);
      if (summary?.jobs?.done !== pages) throw new BenchFailure(`imgpipe: expected ${pages} jobs done, got ${JSON.stringify(summary?.jobs)}`);
      const texts = {};
      const exportArgs = [IMGPIPE, 'export', '--db', db, '--task', 'ocr'];
      assertExitedCleanly('imgpipe export', exportArgs, await runNode(exportArgs, { onJson: (record) => (texts[record.key.replace(/\.png$/, '')] = record.result.text) }));
      return { wallMs: result.wallMs, pagesPerSecond: pages / (result.wallMs / 1000), maxRssMb: summary.maxRssMb, texts };
    };
    const runTesseract = async (dir, pages) => {
      const out = path.join(work, 'tesseract');
      await rm(out, { recursive: true, force: true });
      await mkdir(out, { recursive: true });
      const files = (await readdir(dir)).filter((n) => n.endsWith('.png')).sort().map((n) => path.join(dir, n));
      const args = ['--will-cite', '-j', String(settings.threads), `tesseract {} '${out}/{/.}' --psm ${psm} --dpi ${dpi} -l eng`, ':::', ...files];
      const result = await runCommand(parallel.path, args, { env: { ...process.env, OMP_THREAD_LIMIT: '1' } });
      if (result.code !== 0) throw new BenchFailure(`native tesseract failed (exit ${result.code}):\n${result.tail}`);
      const texts = {};
      for (const name of await readdir(out)) texts[name.replace(/\.txt$/, '')] = await readFile(path.join(out, name), 'utf8');
      if (Object.keys(texts).length !== pages) throw new BenchFailure(`native tesseract: ${Object.keys(texts).length} of ${pages} pages read`);
      return { wallMs: result.wallMs, pagesPerSecond: pages / (result.wallMs / 1000), maxRssMb: result.maxRssMb, texts };
    };

    const results = {};
    for (const corpus of CORPORA) {
      const dir = await ensureCorpus(corpus);
      // Untimed warm-up (files and engines in the page cache).
      await runImgpipe(dir, corpus.pages);
      if (!skipped) await runTesseract(dir, corpus.pages);
      const samples = [];
      let cer;
      for (let r = 1; r <= repeat; r++) {
        const measured = {};
        const steps = [['imgpipe', () => runImgpipe(dir, corpus.pages)], ...(skipped ? [] : [['tesseract', () => runTesseract(dir, corpus.pages)]])];
        if (r % 2 === 0) steps.reverse();
        for (const [id, step] of steps) measured[id] = await step();
        cer ??= Object.fromEntries(Object.entries(measured).map(([id, m]) => [id, cerByAngle(m.texts, transcript, corpus.angles)]));
        for (const m of Object.values(measured)) delete m.texts;
        if (measured.tesseract) measured.ratio = measured.imgpipe.pagesPerSecond / measured.tesseract.pagesPerSecond;
        samples.push(measured);
        log(`ocr-peers ${corpus.id}, repeat ${r}/${repeat}: imgpipe ${measured.imgpipe.pagesPerSecond.toFixed(2)} pages/s${measured.tesseract ? `, native tesseract ${measured.tesseract.pagesPerSecond.toFixed(2)}` : ''}`);
      }
      log(`ocr-peers ${corpus.id}: CER ${Object.entries(cer).map(([id, byAngle]) => `${id} ${Object.entries(byAngle).map(([a, v]) => `${a}°: ${(v * 100).toFixed(1)} %`).join(', ')}`).join('; ')}`);
      results[corpus.id] = { samples, cer };
    }
    return {
      settings: { repeat, threads: settings.threads, pool, psm, dpi, corpora: CORPORA, tesseract: tesseract.version ?? null, tesseractJs: null },
      skipped,
      results,
    };
  },

  render(entry) {
    const { settings, skipped, results } = entry;
    const lines = [
      `imgpipe: \`imgpipe run DIR --tasks ocr\` with its defaults (tesseract.js, \`--ocr-psm ${settings.psm}\`, \`--ocr-dpi ${settings.dpi}\`, \`--ocr-rotate auto\`), ${settings.pool} workers on \`--threads ${settings.threads}\`. ` +
        `Native: \`OMP_THREAD_LIMIT=1 parallel -j${settings.threads} tesseract {} OUT/{/.} --psm ${settings.psm} --dpi ${settings.dpi} -l eng\`${settings.tesseract ? ` (tesseract ${settings.tesseract})` : ''}, one process per page. ` +
        `Pages: \`fixtures/documents/page.png\` (a rendered page of 6 lines; transcript \`page.txt\`). Times are spawn → exit (engine start-up included for both); median of ${settings.repeat} runs [min–max]; the two alternate which runs first, and the ratio is taken within a repeat. CER: edit distance over the transcript's length, layout whitespace ignored.`,
      '',
    ];
    const rows = [];
    for (const corpus of settings.corpora) {
      const { samples, cer } = results[corpus.id];
      const pick = (get) => stats(samples.map(get).filter((v) => v !== undefined));
      const cerText = (id) => corpus.angles.map((a) => `${a}°: ${(cer[id][a] * 100).toFixed(1)} %`).join(', ');
      rows.push([
        `${corpus.pages} ${corpus.label}`,
        formatStats(pick((s) => s.imgpipe.pagesPerSecond), { digits: 2 }),
        skipped ? `skipped: ${skipped}` : formatStats(pick((s) => s.tesseract?.pagesPerSecond), { digits: 2 }),
        skipped ? '' : formatStats(pick((s) => s.ratio), { unit: '×', digits: 2 }),
        `${formatStats(pick((s) => s.imgpipe.maxRssMb), { unit: 'MB', digits: 0 })} / ${skipped ? '—' : formatStats(pick((s) => s.tesseract?.maxRssMb), { unit: 'MB', digits: 0 })}`,
        cerText('imgpipe'),
        skipped ? '—' : cerText('tesseract'),
      ]);
    }
    const turned = results.turned?.cer?.tesseract;
    const missed = turned ? ANGLES.filter((a) => turned[a] > 0.1) : [];
    lines.push(
      markdownTable(['Corpus', 'imgpipe pages/s', 'Native tesseract pages/s (same run)', 'imgpipe ÷ native', 'Peak RSS imgpipe / native (largest process)', 'CER imgpipe', 'CER native tesseract'], rows),
      '',
      `${missed.length > 0 ? `Native tesseract does not turn pages at \`--psm 3\`: it read the page turned ${missed.join('° and ')}° as garbage. ` : ''}imgpipe's \`--ocr-rotate auto\` tries the other rotations when little text reads confidently and keeps the best reading, which costs it extra passes on exactly those pages; on upright pages both read each page once.`,
    );
    if (skipped) lines.push('', `Native tesseract was not measured: ${skipped} (\`${INSTALL_PEERS}\`).`);
    return lines.join('\n');
  },
};
