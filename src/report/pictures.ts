/**
 * The report's pictures: a thumbnail for the gallery and a preview for the image page of every
 * image, and a preview of every image artefact (anonymised copies, cut-outs). Made here with
 * sharp, upright, so that the report folder holds everything it shows, whatever the originals'
 * formats (TIFF and HEIC do not display in a browser) and sizes (a 50 MP photo is no preview).
 *
 * Originals' pictures are named by content (sha256) and size: a picture that exists is up to
 * date, duplicates share one, and a second report into the same folder redoes nothing. A file
 * that cannot be decoded gets no picture (the pages show a placeholder); it never stops the report.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from '../runtime/sharp.js';
import { openImage, uprightSize } from '../runtime/image.js';
import { writeAtomically } from '../runtime/artifacts.js';

export interface PictureSizes {
  /** Longest side of gallery thumbnails, in pixels. */
  thumb: number;
  /** Longest side of image-page previews, in pixels. */
  preview: number;
}

/** An original's pictures: paths relative to the report folder, and the upright original's size. */
export interface Picture {
  thumb: string;
  preview: string;
  /** Upright width and height of the original: results' boxes are in these pixels. */
  width: number;
  height: number;
}

/** What was learnt about one content (sha256): its upright size, and whether its thumbnail is its preview. */
interface Known {
  width: number;
  height: number;
  thumbIsPreview: boolean;
}

interface CacheFile {
  version: number;
  sizes: PictureSizes;
  pictures: Record<string, Known>;
}

const CACHE_VERSION = 1;
const JPEG = { quality: 80, mozjpeg: false } as const;
/** Artefacts may carry transparency (cut-outs): WebP keeps it, at a fraction of PNG's size. */
const WEBP = { quality: 80, alphaQuality: 80, effort: 2 } as const;
const ARTEFACT_EXTENSIONS = /\.(jpe?g|png|webp|avif|tiff?|gif)$/i;

export class PictureMaker {
  private readonly known = new Map<string, Known>();
  private readonly cacheFile: string;
  private readonly folders = new Set<string>();
  made = 0;
  reused = 0;
  failed = 0;
  /** Artefacts the ledger names that are not under --out (another --out, or deleted). */
  missingArtefacts = 0;

  constructor(
    private readonly dir: string,
    private readonly sizes: PictureSizes,
  ) {
    this.cacheFile = path.join(dir, 'pictures', 'cache.json');
    const cache = readCache(this.cacheFile);
    if (cache && cache.version === CACHE_VERSION && cache.sizes.thumb === sizes.thumb && cache.sizes.preview === sizes.preview) {
      for (const [sha, known] of Object.entries(cache.pictures)) this.known.set(sha, known);
    }
  }

  /** The absolute name of a picture, its folder made once (256 shards a size: no mkdir per picture). */
  private inFolder(relative: string): string {
    const absolute = path.join(this.dir, relative);
    const folder = path.dirname(absolute);
    if (!this.folders.has(folder)) {
      mkdirSync(folder, { recursive: true });
      this.folders.add(folder);
    }
    return absolute;
  }

  private originalPaths(sha256: string, thumbIsPreview: boolean): { thumb: string; preview: string } {
    const shard = sha256.slice(0, 2);
    const thumb = `pictures/thumb-${this.sizes.thumb}/${shard}/${sha256}.jpg`;
    return { thumb, preview: thumbIsPreview ? thumb : `pictures/preview-${this.sizes.preview}/${shard}/${sha256}.jpg` };
  }

  /** The pictures of the image at `file` whose content is `sha256`, or why there are none. */
  async original(sha256: string, file: string): Promise<Picture | { error: string }> {
    const cached = this.known.get(sha256);
    if (cached) {
      const paths = this.originalPaths(sha256, cached.thumbIsPreview);
      if (existsSync(path.join(this.dir, paths.thumb)) && existsSync(path.join(this.dir, paths.preview))) {
        this.reused += 1;
        return { ...paths, width: cached.width, height: cached.height };
      }
    }
    try {
      const bytes = await readFile(file);
      // One decode: the preview is made from the original, the thumbnail from the preview.
      const preview = await openImage(bytes)
        .autoOrient()
        .resize(this.sizes.preview, this.sizes.preview, { fit: 'inside', withoutEnlargement: true })
        .flatten({ background: '#ffffff' })
        .toColourspace('srgb')
        .jpeg(JPEG)
        .toBuffer({ resolveWithObject: true });
      let { width, height } = preview.info;
      // Smaller than the preview size, the preview is the original's size; only a shrunk one
      // needs the header read for it (per-call overhead is most of a small image's cost).
      if (Math.max(width, height) >= this.sizes.preview) {
        const header = await openImage(bytes).metadata();
        [width, height] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
      }
      const thumbIsPreview = Math.max(preview.info.width, preview.info.height) <= this.sizes.thumb;
      const paths = this.originalPaths(sha256, thumbIsPreview);
      // Written straight to their names: a picture counts as made only once the cache, saved
      // last, says so, so a report stopped half-way leaves nothing that passes for up to date.
      if (thumbIsPreview) {
        await writeFile(this.inFolder(paths.thumb), preview.data);
      } else {
        await Promise.all([
          writeFile(this.inFolder(paths.preview), preview.data),
          sharp(preview.data).resize(this.sizes.thumb, this.sizes.thumb, { fit: 'inside' }).jpeg(JPEG).toFile(this.inFolder(paths.thumb)),
        ]);
      }
      this.known.set(sha256, { width, height, thumbIsPreview });
      this.made += 1;
      return { ...paths, width, height };
    } catch (error) {
      this.failed += 1;
      return { error: (error as Error).message.split('\n')[0]! };
    }
  }

  /**
   * A preview of an artefact (a file under the run's --out); null when it is not an image, is
   * missing or does not decode. Named by its path, and redone when the artefact is newer than the preview.
   */
  async artefact(file: string): Promise<string | null> {
    if (!ARTEFACT_EXTENSIONS.test(file)) return null;
    const name = createHash('sha1').update(path.resolve(file)).digest('hex');
    const relative = `pictures/artefact-${this.sizes.preview}/${name.slice(0, 2)}/${name}.webp`;
    const target = path.join(this.dir, relative);
    if (!existsSync(file)) {
      this.missingArtefacts += 1;
      return null;
    }
    try {
      const source = statSync(file);
      if (existsSync(target) && statSync(target).mtimeMs >= source.mtimeMs) {
        this.reused += 1;
        return relative;
      }
      const data = await openImage(await readFile(file))
        .autoOrient()
        .resize(this.sizes.preview, this.sizes.preview, { fit: 'inside', withoutEnlargement: true })
        .toColourspace('srgb')
        .webp(WEBP)
        .toBuffer();
      // Through a temporary name: this preview is judged up to date by its time, not by the cache.
      await writeAtomically(target, data);
      this.made += 1;
      return relative;
    } catch {
      this.failed += 1;
      return null;
    }
  }

  /** Keeps what was learnt (which pictures exist, the originals' sizes) for the next report into this folder. */
  async save(): Promise<void> {
    const cache: CacheFile = { version: CACHE_VERSION, sizes: this.sizes, pictures: Object.fromEntries(this.known) };
    await writeAtomically(this.cacheFile, JSON.stringify(cache));
  }
}

function readCache(file: string): CacheFile | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` over `items` with at most `limit` in flight, in order of `items`; libvips runs
 * each pipeline on one thread (configureSharp), so `limit` is the number of cores kept busy.
 */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const lane = async (): Promise<void> => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}
