/**
 * Reference galleries that users supply as folders, `DIR/<name>/*.jpg|png|webp` (labels learnt
 * from examples, brands for logos): listed and checked on the main thread at start-up, so that a
 * bad folder is a usage error before any work, and fingerprinted, so that a changed gallery
 * redoes the jobs that used it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

const IMAGE = /\.(jpe?g|png|webp)$/i;

export interface GalleryFile {
  /** The sub-folder's name: a label, a brand. */
  label: string;
  file: string;
  size: number;
  mtimeMs: number;
}

/** The images under `dir`, sorted; a message naming `flag` instead when the folder is not usable. */
export function listGallery(dir: string, flag: string, what = 'label', items = 'examples'): GalleryFile[] | string {
  const where = `${flag} ${dir}`;
  let entries;
  try {
    if (!statSync(dir).isDirectory()) return `${where}: not a folder (expected DIR/<${what}>/*.jpg|png|webp)`;
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    return `${where}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  const files: GalleryFile[] = [];
  const labels = entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((entry) => entry.name).sort();
  if (labels.length === 0) return `${where}: no ${what} folders in it (expected DIR/<${what}>/*.jpg|png|webp)`;
  for (const label of labels) {
    const folder = path.join(dir, label);
    const names = readdirSync(folder, { withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.') && IMAGE.test(entry.name))
      .map((entry) => entry.name)
      .sort();
    if (names.length === 0) return `${where}: ${what} folder ${label}/ has no .jpg, .png or .webp ${items}`;
    for (const name of names) {
      const file = path.join(folder, name);
      const stats = statSync(file);
      files.push({ label, file, size: stats.size, mtimeMs: stats.mtimeMs });
    }
  }
  return files;
}

/** Names, sizes and mtimes of the files (and of `extra` files such as aliases): changes when the gallery does. */
export function galleryFingerprint(files: readonly { file: string; size: number; mtimeMs: number }[], dir: string): string {
  const listing = files.map((entry) => [path.relative(dir, entry.file), entry.size, entry.mtimeMs]);
  return createHash('sha256').update(JSON.stringify(listing)).digest('hex').slice(0, 16);
}
