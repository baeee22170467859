/**
 * The example gallery of `--labels-from DIR`: `DIR/<label>/*.jpg|png|webp`, a few images per
 * label, listed at start-up (src/runtime/gallery.ts) and embedded once per worker thread, not
 * once per image.
 */
import { readFileSync } from 'node:fs';
import { listGallery } from '../../runtime/gallery.js';
import type { Embedder } from '../../runtime/embedding.js';
import { TaskError } from '../contract.js';

export interface Gallery {
  labels: { name: string; vectors: Float32Array[] }[];
}

/** Embeds every example with the same model and preprocessing as the images. */
export async function embedGallery(dir: string, embed: Embedder): Promise<Gallery> {
  const examples = listGallery(dir, '--labels-from');
  if (typeof examples === 'string') throw new TaskError('E_READ', examples);
  const byLabel = new Map<string, Float32Array[]>();
  for (const example of examples) {
    let vector: Float32Array;
    try {
      ({ vector } = await embed(readFileSync(example.file)));
    } catch (error) {
      throw new TaskError('E_TASK', `example ${example.file} could not be embedded: ${(error as Error).message}`);
    }
    byLabel.set(example.label, [...(byLabel.get(example.label) ?? []), vector]);
  }
  return { labels: [...byLabel.entries()].map(([name, vectors]) => ({ name, vectors })) };
}
