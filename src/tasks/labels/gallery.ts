/**
 * The example gallery of `--labels-from DIR`: `DIR/<label>/*.jpg|png|webp`, a few images per
 * label. Listed and checked on the main thread at start-up (a bad folder is a usage error before
 * any work) and embedded once per worker thread, not once per image.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Embedder } from '../../runtime/embedding.js';
import { TaskError } from '../contract.js';

const EXAMPLE = /\.(jpe?g|png|webp)$/i;

export interface ExampleFile {
  label: string;
  file: string;
  size: number;
  mtimeMs: number;
}

/** The examples under `dir`, sorted; a message instead when the folder is not a usable gallery. */
export function listGallery(dir: string): ExampleFile[] | string {
  const where = `--labels-from ${dir}`;
  let entries;
  try {
    if (!statSync(dir).isDirectory()) return `${where}: not a folder (expected DIR/<label>/*.jpg|png|webp)`;
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    return `${where}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  const examples: ExampleFile[] = [];
  const labels = entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((entry) => entry.name).sort();
  if (labels.length === 0) return `${where}: no label folders in it (expected DIR/<label>/*.jpg|png|webp)`;
  for (const label of labels) {
    const folder = path.join(dir, label);
    const files = readdirSync(folder, { withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && EXAMPLE.test(entry.name))
      .map((entry) => entry.name)
      .sort();
    if (files.length === 0) return `${where}: label folder ${label}/ has no .jpg, .png or .webp examples`;
    for (const name of files) {
      const file = path.join(folder, name);
      const stats = statSync(file);
      examples.push({ label, file, size: stats.size, mtimeMs: stats.mtimeMs });
    }
  }
  return examples;
}

/** Names, sizes and mtimes of the examples: changes when the gallery does. */
export function galleryFingerprint(examples: readonly ExampleFile[], dir: string): string {
  const listing = examples.map((example) => [path.relative(dir, example.file), example.size, example.mtimeMs]);
  return createHash('sha256').update(JSON.stringify(listing)).digest('hex').slice(0, 16);
}

export interface Gallery {
  labels: { name: string; vectors: Float32Array[] }[];
}

/** Embeds every example with the same model and preprocessing as the images. */
export async function embedGallery(dir: string, embed: Embedder): Promise<Gallery> {
  const examples = listGallery(dir);
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
