/**
 * ocr: tesseract.js (LSTM) fully offline: language data read from its npm packages, nothing
 * cached to disk. One tesseract worker per pool thread, created on first use and reused.
 * Rotated pages: when little text reads confidently upright, the page is also read at 90, 180
 * and 270 degrees and the reading with the most confident text wins.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Box } from '../../runtime/boxes.js';
import sharp from '../../runtime/sharp.js';
import type { Handler, JobInput } from '../contract.js';
import { TaskError } from '../contract.js';
import { openImage } from '../../runtime/image.js';
import { packageFolder } from '../../runtime/models.js';
import { languagePackage } from './meta.js';

type Tesseract = typeof import('tesseract.js');
type TesseractWorker = Awaited<ReturnType<Tesseract['createWorker']>>;

interface Options {
  lang: string;
  'min-confidence': number;
  psm: number;
  dpi: number;
  rotate: 'auto' | 'off';
  text: boolean;
}

export interface OcrWord {
  text: string;
  confidence: number;
  box: Box;
}
export interface OcrLine {
  text: string;
  confidence: number;
  box: Box;
  words: OcrWord[];
}
export interface OcrResult {
  text: string;
  /** Mean confidence of the words kept (0-100); 0 when none. */
  confidence: number;
  /** Clockwise rotation applied to the upright image before reading it. */
  angle: 0 | 90 | 180 | 270;
  lines: OcrLine[];
  words: number;
}

/** Upright reading at least this good (mean confidence, words) is not worth rotating. */
const GOOD_ENOUGH = { confidence: 80, words: 3 };
const DATA_FOLDER = '4.0.0_best_int';

/**
 * tesseract.js reads every language from one folder: for several packages, a temporary folder of
 * links, which `remove` deletes once the worker has loaded the data (it keeps it in memory).
 */
function languageFolder(langs: string[]): { folder: string; remove(): void } {
  const folders = langs.map((lang) => {
    const found = packageFolder(languagePackage(lang));
    if ('reason' in found) throw new TaskError('E_TASK', found.reason);
    return path.join(found.folder, DATA_FOLDER);
  });
  if (folders.length === 1) return { folder: folders[0]!, remove() {} };
  const links = mkdtempSync(path.join(tmpdir(), 'imgpipe-tessdata-'));
  const remove = () => rmSync(links, { recursive: true, force: true });
  try {
    langs.forEach((lang, i) => symlinkSync(path.join(folders[i]!, `${lang}.traineddata.gz`), path.join(links, `${lang}.traineddata.gz`)));
  } catch (error) {
    remove();
    throw error;
  }
  return { folder: links, remove };
}

function toBox(bbox: { x0: number; y0: number; x1: number; y1: number }, angle: number, width: number, height: number): Box {
  // Boxes come in the rotated page's pixels: map them back to the upright image's.
  const corners: [number, number][] = [
    [bbox.x0, bbox.y0],
    [bbox.x1, bbox.y1],
  ].map(([x, y]) => {
    switch (angle) {
      case 90:
        return [y!, height - x!];
      case 180:
        return [width - x!, height - y!];
      case 270:
        return [width - y!, x!];
      default:
        return [x!, y!];
    }
  });
  const xs = corners.map((c) => c[0]);
  const ys = corners.map((c) => c[1]);
  return { x: Math.min(...xs), y: Math.min(...ys), width: Math.abs(xs[0]! - xs[1]!), height: Math.abs(ys[0]! - ys[1]!) };
}

async function read(worker: TesseractWorker, png: Buffer, options: Options, angle: OcrResult['angle'], width: number, height: number): Promise<OcrResult> {
  const { data } = await worker.recognize(png, {}, { text: false, blocks: true });
  const lines: OcrLine[] = [];
  for (const block of data.blocks ?? []) {
    for (const paragraph of block.paragraphs) {
      for (const line of paragraph.lines) {
        const words = line.words
          .filter((word) => word.confidence >= options['min-confidence'] && word.text.trim() !== '')
          .map((word) => ({ text: word.text, confidence: Math.round(word.confidence * 10) / 10, box: toBox(word.bbox, angle, width, height) }));
        if (words.length === 0) continue;
        const confidence = words.reduce((sum, w) => sum + w.confidence, 0) / words.length;
        lines.push({ text: words.map((w) => w.text).join(' '), confidence: Math.round(confidence * 10) / 10, box: toBox(line.bbox, angle, width, height), words });
      }
    }
  }
  const words = lines.flatMap((line) => line.words);
  const confidence = words.length ? words.reduce((sum, w) => sum + w.confidence, 0) / words.length : 0;
  return { text: lines.map((line) => line.text).join('\n'), confidence: Math.round(confidence * 10) / 10, angle, lines, words: words.length };
}

/** How much text a reading holds, confidently: what decides between rotations. */
function weight(result: OcrResult): number {
  return result.lines.reduce((sum, line) => sum + line.words.reduce((s, w) => s + w.text.length * w.confidence, 0), 0);
}

export async function createHandler(): Promise<Handler> {
  const { createWorker, OEM } = await import('tesseract.js');
  const workers = new Map<string, Promise<TesseractWorker>>();
  const workerFor = (options: Options): Promise<TesseractWorker> => {
    const key = `${options.lang}|${options.psm}|${options.dpi}`;
    let worker = workers.get(key);
    if (!worker) {
      worker = (async () => {
        const langs = options.lang.split('+');
        const data = languageFolder(langs);
        const created = await createWorker(langs, OEM.LSTM_ONLY, { langPath: data.folder, cacheMethod: 'none', gzip: true }).finally(() => data.remove());
        await created.setParameters({ tessedit_pageseg_mode: String(options.psm) as never, user_defined_dpi: String(options.dpi) });
        return created;
      })();
      workers.set(key, worker);
    }
    return worker;
  };

  return async (job: JobInput) => {
    const options = job.options as unknown as Options;
    const worker = await workerFor(options);
    // Upright, 8-bit grey, flattened: what tesseract reads best. Decoded once; rotations work on
    // these pixels, and PNG keeps what tesseract gets lossless.
    const { data: pixels, info } = await openImage(job.bytes)
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .greyscale()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    const png = await sharp(pixels, raw).png({ compressionLevel: 1 }).toBuffer();
    let best = await read(worker, png, options, 0, info.width, info.height);
    // Tesseract reads lines turned by 90 degrees on its own, as tall boxes: the page is on its side.
    const sideways = best.lines.filter((line) => line.words.length > 1 && line.box.height > line.box.width).length > best.lines.length / 2;
    const good = best.confidence >= GOOD_ENOUGH.confidence && best.words >= GOOD_ENOUGH.words;
    if (options.rotate === 'auto' && (sideways || !good)) {
      if (sideways) best = { ...best, lines: [], words: 0, confidence: 0, text: '' };
      for (const angle of sideways ? ([90, 270] as const) : ([90, 180, 270] as const)) {
        const rotated = await sharp(pixels, raw).rotate(angle).png({ compressionLevel: 1 }).toBuffer();
        const attempt = await read(worker, rotated, options, angle, info.width, info.height);
        if (weight(attempt) > weight(best) * 1.2) best = attempt;
      }
    }
    const artifacts = options.text ? [await job.artifacts.write(`${best.text}\n`, '.txt')] : [];
    return { result: best, artifacts };
  };
}
