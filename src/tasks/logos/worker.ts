/**
 * logos: every brand of the gallery searched in the photo by its reference pictures (visual.ts)
 * and, when the run includes `ocr`, by its names in the text (text.ts). A brand found both ways
 * in the same place is one detection, method `visual+text`.
 */
import path from 'node:path';
import { intersection, type Box } from '../../runtime/boxes.js';
import { openImage, uprightSize } from '../../runtime/image.js';
import { loadOpenCv, type OpenCv } from '../../runtime/opencv.js';
import type { Handler, JobInput, WorkerContext } from '../contract.js';
import { TaskError } from '../contract.js';
import { listBrands, type Brand } from './gallery.js';
import { matchText, overlaps, type OcrWord } from './text.js';
import { deleteScene, findReference, loadReference, loadScene, type Reference } from './visual.js';

export interface LogoDetection {
  brand: string;
  score: number;
  box: Box;
  method: 'visual' | 'text' | 'visual+text';
  /** For text matches: the words read. */
  text?: string;
}

export interface LogosResult {
  count: number;
  logos: LogoDetection[];
  /** Whether OCR text was searched (the run included `ocr` and it succeeded on this image). */
  textSearched: boolean;
}

interface Gallery {
  brands: Brand[];
  references: Reference[];
}

interface OcrResult {
  lines?: { words: OcrWord[] }[];
}

/** Whether two boxes share more than half of the smaller one. */
function samePlace(a: Box, b: Box): boolean {
  return intersection(a, b) > 0.5 * Math.min(a.width * a.height, b.width * b.height);
}

async function loadGallery(cv: OpenCv, dir: string): Promise<Gallery> {
  const brands = listBrands(dir);
  if (typeof brands === 'string') throw new TaskError('E_READ', brands);
  const references: Reference[] = [];
  for (const brand of brands) {
    for (const file of brand.files) {
      try {
        references.push(await loadReference(cv, brand.name, file));
      } catch (error) {
        throw new TaskError('E_TASK', `reference ${file} could not be read: ${(error as Error).message}`);
      }
    }
  }
  return { brands, references };
}

export async function createHandler(_context: WorkerContext): Promise<Handler> {
  const cv = await loadOpenCv();
  const matcher = new cv.BFMatcher(cv.NORM_HAMMING, false);
  // A worker serves one run, whose options hash fixed the gallery: described once per worker.
  const galleries = new Map<string, Promise<Gallery>>();
  return async (job: JobInput) => {
    const options = job.options as { from: string; 'min-score': number; 'text-similarity': number };
    const dir = path.resolve(options.from);
    let gallery = galleries.get(dir);
    if (!gallery) {
      gallery = loadGallery(cv, dir);
      galleries.set(dir, gallery);
    }
    const { brands, references } = await gallery;
    const header = await openImage(job.bytes).metadata();
    const [width] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
    const scene = await loadScene(cv, job.bytes, width);
    const found: LogoDetection[] = [];
    if (scene) {
      try {
        for (const reference of references) {
          const match = findReference(cv, matcher, reference, scene, options['min-score']);
          if (match) found.push({ brand: match.brand, score: match.score, box: match.box, method: 'visual' });
        }
      } finally {
        deleteScene(scene);
      }
    }
    // One place shows one logo: several references of a brand may find it, and a brand sharing
    // letters or shapes with it may fit it partly. Keep the best; drop weaker detections that
    // cover mostly the same pixels (measured on the composite set: 4 false detections of 4 at
    // the default score were such partial fits, and no right detection was lost).
    const visual: LogoDetection[] = [];
    for (const detection of found.sort((a, b) => b.score - a.score)) {
      if (!visual.some((kept) => (kept.brand === detection.brand && overlaps(kept.box, detection.box)) || samePlace(kept.box, detection.box))) visual.push(detection);
    }

    const ocr = job.inputs.ocr as OcrResult | undefined;
    const textMatches = ocr?.lines ? matchText(ocr.lines.map((line) => line.words), brands, options['text-similarity']).filter((m) => m.score >= options['min-score']) : [];
    const logos: LogoDetection[] = [...visual];
    for (const match of textMatches) {
      const same = logos.find((d) => d.brand === match.brand && d.method === 'visual' && overlaps(d.box, match.box));
      if (same) {
        same.method = 'visual+text';
        same.score = Math.max(same.score, match.score);
        same.text = match.text;
      } else logos.push({ brand: match.brand, score: match.score, box: match.box, method: 'text', text: match.text });
    }
    logos.sort((a, b) => b.score - a.score);
    const result: LogosResult = { count: logos.length, logos, textSearched: ocr !== undefined };
    return { result };
  };
}
