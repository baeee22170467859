/**
 * Face ground truth (bench/faces-truth.json) and how detections are scored against it, for the
 * models suite; on its own, a tool to look at detections and truth together:
 *
 *   node bench/faces-truth.js draw DIR [--model accurate|fast] [--max-side N]
 *       runs `imgpipe run --tasks faces` on the accuracy corpus (bench/photos.js) and writes
 *       DIR/<photo>.png: truth boxes in green, detections in red (score >= 0.5), orange
 *       (>= 0.3) or yellow (>= 0.2, imgpipe's report floor), each labelled with its score;
 *       prints recall and false positives at both thresholds.
 *   node bench/faces-truth.js propose [--max-side N]
 *       prints the accurate model's detections at full resolution (--max-side 4096) in the
 *       truth file's "images" shape: the starting point of the truth, to be checked by eye
 *       with `draw` before it replaces anything.
 *
 * Needs a build (dist/). Run from anywhere; paths are the repository's.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { assertExitedCleanly, BenchFailure, ROOT_DIR, runNode } from './lib.js';
import { ensureEvalCorpus } from './photos.js';

export const TRUTH_FILE = path.join(ROOT_DIR, 'bench', 'faces-truth.json');
export const MATCH_IOU = 0.3;

export async function loadTruth() {
  const truth = JSON.parse(await readFile(TRUTH_FILE, 'utf8'));
  const total = Object.values(truth.images).reduce((sum, image) => sum + image.faces.length, 0);
  if (total !== truth.faces) throw new BenchFailure(`${path.relative(ROOT_DIR, TRUTH_FILE)}: "faces" says ${truth.faces}, the images hold ${total}`);
  return truth;
}

export function iou(a, b) {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * Matches the detections scoring >= minScore to one image's truth boxes: pairs with IoU >=
 * MATCH_IOU, best IoU first, each face and each detection used once.
 */
export function matchImage(truthBoxes, faces, minScore) {
  const kept = faces.filter((f) => f.score >= minScore);
  const pairs = [];
  for (let t = 0; t < truthBoxes.length; t++) {
    for (let d = 0; d < kept.length; d++) {
      const overlap = iou(truthBoxes[t], kept[d].box);
      if (overlap >= MATCH_IOU) pairs.push({ t, d, overlap });
    }
  }
  pairs.sort((a, b) => b.overlap - a.overlap);
  const usedT = new Set();
  const usedD = new Set();
  const matches = [];
  for (const pair of pairs) {
    if (usedT.has(pair.t) || usedD.has(pair.d)) continue;
    usedT.add(pair.t);
    usedD.add(pair.d);
    matches.push(pair);
  }
  return { detections: kept.length, matched: matches.length, falsePositives: kept.length - matches.length, missed: truthBoxes.length - matches.length, ious: matches.map((m) => m.overlap) };
}

/**
 * Scores faces results ({ [photo name]: FacesResult }) against the truth at minScore: recall over
 * every truth face, false positives over every photo (those without people included).
 */
export function evaluate(truth, results, minScore) {
  const perImage = {};
  let matched = 0;
  let falsePositives = 0;
  let detections = 0;
  const ious = [];
  for (const [name, image] of Object.entries(truth.images)) {
    const result = results[name];
    if (!result) throw new BenchFailure(`no faces result for ${name}`);
    const m = matchImage(image.faces, result.faces, minScore);
    perImage[name] = { faces: image.faces.length, detections: m.detections, matched: m.matched, falsePositives: m.falsePositives, missed: m.missed };
    matched += m.matched;
    falsePositives += m.falsePositives;
    detections += m.detections;
    ious.push(...m.ious);
  }
  const sortedIous = ious.sort((a, b) => a - b);
  return {
    minScore,
    faces: truth.faces,
    matched,
    recall: matched / truth.faces,
    falsePositives,
    detections,
    medianIou: sortedIous.length ? sortedIous[sortedIous.length >> 1] : null,
    perImage,
  };
}

/** Runs imgpipe's faces on a folder with extra flags; returns { [key]: FacesResult }. */
export async function facesResults(corpus, workDir, flags = []) {
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const db = path.join(workDir, 'ledger.db');
  const runArgs = ['bin/imgpipe.js', 'run', corpus, '--tasks', 'faces', ...flags, '--db', db, '--out', path.join(workDir, 'out'), '--json'];
  let summary;
  const run = await runNode(runArgs, { onJson: (event) => event.event === 'summary' && (summary = event) });
  assertExitedCleanly('imgpipe run (faces, accuracy corpus)', runArgs, run);
  if (summary?.jobs?.failed !== 0) throw new BenchFailure(`imgpipe run (faces, accuracy corpus): ${summary?.jobs?.failed ?? '?'} jobs failed: node ${runArgs.join(' ')}`);
  const results = {};
  const exportArgs = ['bin/imgpipe.js', 'export', '--db', db, '--task', 'faces'];
  const exported = await runNode(exportArgs, { onJson: (row) => (results[row.key] = row.result) });
  assertExitedCleanly('imgpipe export', exportArgs, exported);
  await rm(workDir, { recursive: true, force: true });
  return { results, summary };
}

// ---- the tool ------------------------------------------------------------------------------------------

const COLOURS = [
  [0.5, '#ff2020'],
  [0.3, '#ff9900'],
  [0, '#ffee00'],
];

async function draw(outDir, truth, results, corpus) {
  const { default: sharp } = await import('sharp');
  await mkdir(outDir, { recursive: true });
  for (const [name, image] of Object.entries(truth.images)) {
    const { width, height } = image;
    const stroke = Math.max(3, Math.round(width / 400));
    const font = Math.max(16, Math.round(width / 60));
    const rect = (b, colour, dash = '') =>
      `<rect x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" fill="none" stroke="${colour}" stroke-width="${stroke}" ${dash}/>`;
    const parts = image.faces.map((b) => rect(b, '#00e000'));
    for (const face of results[name]?.faces ?? []) {
      const colour = COLOURS.find(([floor]) => face.score >= floor)[1];
      parts.push(rect(face.box, colour, `stroke-dasharray="${stroke * 3},${stroke * 2}"`));
      parts.push(`<text x="${face.box.x + stroke}" y="${face.box.y + face.box.height - stroke * 2}" font-size="${font}" font-family="sans-serif" fill="${colour}" stroke="black" stroke-width="1">${face.score}</text>`);
    }
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
    // Composite first at full size, then scale down (sharp composites after resizing otherwise).
    const marked = await sharp(path.join(corpus, name)).autoOrient().composite([{ input: Buffer.from(svg) }]).png().toBuffer();
    await sharp(marked).resize({ width: Math.min(width, 1200) }).png().toFile(path.join(outDir, `${name}.png`));
  }
}

async function main() {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { model: { type: 'string', default: 'accurate' }, 'max-side': { type: 'string' } },
  });
  const [command, outDir] = positionals;
  if (!['draw', 'propose'].includes(command) || (command === 'draw' && !outDir)) {
    process.stderr.write('usage: node bench/faces-truth.js draw DIR [--model accurate|fast] [--max-side N]\n       node bench/faces-truth.js propose [--max-side N]\n');
    return 2;
  }
  const corpus = await ensureEvalCorpus();
  const work = path.join(ROOT_DIR, 'bench', '.work', 'faces-truth');
  if (command === 'propose') {
    const { results } = await facesResults(corpus, work, ['--faces-model', 'accurate', '--faces-max-side', values['max-side'] ?? '4096']);
    const images = {};
    for (const name of Object.keys(results).sort()) {
      const r = results[name];
      images[name] = { width: r.width, height: r.height, faces: [...r.faces].sort((a, b) => a.box.x - b.box.x).map((f) => ({ ...f.box, score: f.score })) };
    }
    process.stdout.write(`${JSON.stringify(images, null, 2)}\n`);
    return 0;
  }
  const flags = ['--faces-model', values.model, ...(values['max-side'] ? ['--faces-max-side', values['max-side']] : [])];
  const truth = await loadTruth();
  const { results } = await facesResults(corpus, work, flags);
  await draw(path.resolve(outDir), truth, results, corpus);
  for (const minScore of [0.5, 0.3]) {
    const e = evaluate(truth, results, minScore);
    process.stdout.write(`score >= ${minScore}: recall ${e.matched}/${e.faces}, false positives ${e.falsePositives} (${e.detections} detections)\n`);
    for (const [name, m] of Object.entries(e.perImage)) process.stdout.write(`  ${name}: ${m.matched}/${m.faces} found, ${m.falsePositives} false, ${m.missed} missed\n`);
  }
  process.stdout.write(`wrote ${Object.keys(truth.images).length} PNGs to ${path.resolve(outDir)}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    process.exitCode = await main();
  } catch (error) {
    process.stderr.write(`${error instanceof BenchFailure ? error.message : error?.stack ?? error}\n`);
    process.exitCode = 1;
  }
}
