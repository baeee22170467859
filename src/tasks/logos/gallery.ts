/**
 * The brand gallery of `--logos-from DIR`: `DIR/<brand>/*.png|jpg|webp` (one or more reference
 * images per brand; transparent PNGs are the common case) and optionally `DIR/<brand>/aliases.txt`
 * (one name per line, matched against OCR text besides the folder's own name).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { galleryFingerprint, listGallery, type GalleryFile } from '../../runtime/gallery.js';

export interface Brand {
  name: string;
  files: string[];
  /** The names that count as this brand in text: the folder's name and its aliases. */
  names: string[];
}

const FLAG = '--logos-from';

function aliasFile(dir: string, brand: string): string {
  return path.join(dir, brand, 'aliases.txt');
}

export function listBrands(dir: string): Brand[] | string {
  const files = listGallery(dir, FLAG, 'brand', 'reference images');
  if (typeof files === 'string') return files;
  const byBrand = new Map<string, GalleryFile[]>();
  for (const file of files) byBrand.set(file.label, [...(byBrand.get(file.label) ?? []), file]);
  return [...byBrand.entries()].map(([name, entries]) => {
    let aliases: string[] = [];
    try {
      aliases = readFileSync(aliasFile(dir, name), 'utf8').split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
    } catch {
      // No aliases: the folder's name is the brand's only name.
    }
    return { name, files: entries.map((entry) => entry.file), names: [name, ...aliases] };
  });
}

/** Changes when a reference image or an aliases file is added, removed or edited. */
export function brandsFingerprint(dir: string): string {
  const files = listGallery(dir, FLAG, 'brand', 'reference images');
  if (typeof files === 'string') return '';
  const aliases = [...new Set(files.map((file) => file.label))].flatMap((brand) => {
    const stats = statSync(aliasFile(dir, brand), { throwIfNoEntry: false });
    return stats ? [{ file: aliasFile(dir, brand), size: stats.size, mtimeMs: stats.mtimeMs }] : [];
  });
  return galleryFingerprint([...files, ...aliases], dir);
}
