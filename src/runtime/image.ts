/**
 * How tasks open images: one place that sets sharp's decoding policy, so every task treats
 * a truncated file, a bomb or an oversize image the same way.
 */
import sharp, { type Sharp } from 'sharp';

/** Pixels (width x height) above which decoding is refused before allocation; libvips' own default. */
export const DEFAULT_MAX_PIXELS = 268_402_689;

let configured = false;

/**
 * libvips keeps one thread pool and one operation cache per process, shared by all worker
 * threads: give each job a single vips thread (the scheduler already runs jobs in parallel,
 * so more would oversubscribe the cores) and skip the cache (batch inputs are never reused).
 */
export function configureSharp(): void {
  if (configured) return;
  sharp.concurrency(1);
  sharp.cache(false);
  configured = true;
}

export interface OpenOptions {
  maxPixels?: number;
}

/**
 * A sharp pipeline over the file's bytes. `failOn: 'truncated'` rejects cut-off files yet
 * accepts the minor warnings that many camera JPEGs carry.
 */
export function openImage(bytes: Buffer, options: OpenOptions = {}): Sharp {
  configureSharp();
  return sharp(bytes, { failOn: 'truncated', limitInputPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS });
}

/** Image dimensions as a viewer shows them, after the EXIF orientation is applied. */
export function uprightSize(width: number, height: number, orientation: number | undefined): [number, number] {
  return orientation !== undefined && orientation >= 5 ? [height, width] : [width, height];
}

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * Decodes once into upright 8-bit sRGB RGBA that fits inside `maxSide`: the form analysis
 * code wants. Shrink-on-load makes this cheap even for large JPEGs.
 */
export async function decodeUprightRgba(bytes: Buffer, maxSide: number, options: OpenOptions = {}): Promise<RawImage> {
  const { data, info } = await openImage(bytes, options)
    .autoOrient()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Greyscale `size` x `size` thumbnail (aspect ignored) of an RGBA image, transparency on white. */
export async function greyThumbnail(image: RawImage, size: number): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .resize(size, size, { fit: 'fill' })
    .raw()
    .toBuffer();
}
