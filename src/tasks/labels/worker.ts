/**
 * labels: rules over the prerequisite results (rules.ts), plus, with --labels-from, the labels
 * whose examples are nearest to the image's embedding (the embed task's vector).
 */
import path from 'node:path';
import type { Handler, JobInput, WorkerContext } from '../contract.js';
import { TaskError } from '../contract.js';
import { cosine, loadEmbedder, type Embedder } from '../../runtime/embedding.js';
import { openImage } from '../../runtime/image.js';
import { embedGallery, type Gallery } from './gallery.js';
import labelsTask from './meta.js';
import { candidatesFrom, mergeByName, type ClassifierResults, type Label, type LabelInputs, type PixelFacts } from './rules.js';

const NAMED_INPUTS = new Set([...labelsTask.needs, ...(labelsTask.uses ?? [])]);

/** Pixel facts need no detail: a thumbnail this size measures them. */
const FACT_SIDE = 64;

export interface LabelsResult {
  labels: Label[];
  /** With --labels-from: every label's similarity to its nearest example, assigned or not. */
  examples?: Record<string, number>;
}

async function pixelFacts(bytes: Buffer): Promise<PixelFacts> {
  const { data, info } = await openImage(bytes).resize(FACT_SIDE, FACT_SIDE, { fit: 'inside' }).toColourspace('srgb').ensureAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  const pixels = info.width * info.height;
  let transparent = 0;
  let chroma = 0;
  let value = 0;
  for (let i = 0; i < pixels * 4; i += 4) {
    if (data[i + 3]! < 255) {
      transparent += 1;
      continue;
    }
    const max = Math.max(data[i]!, data[i + 1]!, data[i + 2]!);
    chroma += max - Math.min(data[i]!, data[i + 1]!, data[i + 2]!);
    value += max / 255;
  }
  const opaque = pixels - transparent;
  return { transparent: pixels > 0 ? transparent / pixels : 0, chroma: opaque > 0 ? chroma / opaque : null, value: opaque > 0 ? value / opaque : null };
}

export async function createHandler(_context: WorkerContext): Promise<Handler> {
  // Loaded on the first job that has a gallery; a worker lives for one run, whose options hash
  // already fixed the gallery's fingerprint, so a gallery is embedded once per worker.
  let embedder: Promise<Embedder> | undefined;
  const galleries = new Map<string, Promise<Gallery>>();
  const galleryOf = (dir: string): Promise<Gallery> => {
    let gallery = galleries.get(dir);
    if (!gallery) {
      embedder ??= loadEmbedder();
      gallery = embedder.then((embed) => embedGallery(dir, embed));
      galleries.set(dir, gallery);
    }
    return gallery;
  };

  return async (job: JobInput) => {
    const options = job.options as { from: string; 'min-similarity': number };
    const named = job.inputs as Omit<LabelInputs, 'pixels' | 'classifiers'>;
    // Inputs from tasks not named in meta.ts come from tasks providing 'classes' (usesProvided).
    const classifiers = Object.fromEntries(Object.entries(job.inputs).filter(([task]) => !NAMED_INPUTS.has(task))) as ClassifierResults;
    const inputs: LabelInputs = { ...named, pixels: await pixelFacts(job.bytes), classifiers };
    const candidates = candidatesFrom(inputs);
    if (options.from === '') return { result: { labels: mergeByName(candidates) } satisfies LabelsResult };

    const vector = job.vectors.embed;
    if (!vector) throw new TaskError('E_DEPENDENCY', 'the embed task stored no vector for this image');
    const gallery = await galleryOf(path.resolve(options.from));
    const examples: Record<string, number> = {};
    for (const label of gallery.labels) {
      const nearest = Math.max(...label.vectors.map((example) => cosine(vector, example)));
      examples[label.name] = Math.round(nearest * 1000) / 1000;
      if (nearest >= options['min-similarity']) candidates.push({ name: label.name, confidence: examples[label.name]!, source: 'examples' });
    }
    // A gallery label named like a rule's (`people`) is the same label: one entry, the stronger evidence.
    return { result: { labels: mergeByName(candidates), examples } satisfies LabelsResult };
  };
}
