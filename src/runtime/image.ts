/**
 * How tasks open images: one place that sets sharp's decoding policy, so every task treats
 * a truncated file, a bomb, an oversize image or an SVG the same way.
 */
import sharp, { type Sharp } from './sharp.js';
import { TaskError } from '../errors.js';
import { pixelLimit } from './limits.js';

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
  // SVG is refused (see openImage); blocking librsvg as well covers what the sniff cannot see,
  // such as gzipped SVG, which then fails as an unknown format.
  sharp.block({ operation: ['VipsForeignLoadSvg'] });
  configured = true;
}

const SVG_REFUSED =
  'SVG is refused: imgpipe does not rasterise vector files from untrusted sources (external references, entity expansion); convert it to PNG first';

/** What librsvg would take: XML whose first element is <svg> (after any BOM, prolog or comment). */
export function looksLikeSvg(bytes: Buffer): boolean {
  const head = bytes.subarray(0, 4096).toString('utf8').replace(/^\uFEFF/, '').trimStart();
  return head.startsWith('<') && /<svg[\s>]/i.test(head);
}

/**
 * The format a file's first bytes announce, among those this build decodes from a buffer
 * (sharp.format: JPEG, PNG, WebP, GIF, TIFF and the HEIF family, AVIF among it); SVG counts,
 * so that it is refused with its own reason. Undefined: no decoder here would take the file.
 */
export function signatureOf(head: Buffer): string | undefined {
  const ascii = (from: number, to: number): string => head.subarray(from, to).toString('latin1');
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'gif';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return 'tiff';
  if (ascii(4, 8) === 'ftyp') return 'heif';
  if (looksLikeSvg(head)) return 'svg';
  return undefined;
}

/**
 * A sharp pipeline over the file's bytes. `failOn: 'truncated'` rejects cut-off files yet
 * accepts the minor warnings that many camera JPEGs carry; images over the pixel limit are
 * refused from their header, before any pixel is allocated (a decompression bomb costs nothing).
 */
export function openImage(bytes: Buffer): Sharp {
  configureSharp();
  if (looksLikeSvg(bytes)) throw new TaskError('E_UNSUPPORTED', SVG_REFUSED);
  return sharp(bytes, { failOn: 'truncated', limitInputPixels: pixelLimit() });
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
export async function decodeUprightRgba(bytes: Buffer, maxSide: number): Promise<RawImage> {
  const { data, info } = await openImage(bytes)
    .autoOrient()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .ensureAlpha()
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/**
 * Greyscale `size` x `size` thumbnail (aspect ignored) of an RGBA image, transparency on white,
 * by averaging each cell's pixels. Done in JavaScript on pixels already decoded: a second sharp
 * pipeline cost more than the whole rest of the analysis on small images.
 */
export function greyThumbnail(image: RawImage, size: number): Buffer {
  const { data, width, height } = image;
  const out = Buffer.alloc(size * size);
  for (let ty = 0; ty < size; ty += 1) {
    const y0 = Math.floor((ty * height) / size);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * height) / size));
    for (let tx = 0; tx < size; tx += 1) {
      const x0 = Math.floor((tx * width) / size);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * width) / size));
      let sum = 0;
      for (let y = y0; y < y1; y += 1) {
        for (let i = (y * width + x0) * 4, end = (y * width + x1) * 4; i < end; i += 4) {
          const alpha = data[i + 3]! / 255;
          const luma = 0.2126 * data[i]! + 0.7152 * data[i + 1]! + 0.0722 * data[i + 2]!;
          sum += luma * alpha + 255 * (1 - alpha);
        }
      }
      out[ty * size + tx] = Math.round(sum / ((y1 - y0) * (x1 - x0)));
    }
  }
  return out;
}

/**
 * The RGB a viewer sees: RGBA composited over white, as every other model input here is
 * flattened. Dropping alpha instead shows what lies under transparency: black after a resize
 * (libvips premultiplies), so dark ink drawn with alpha vanishes, or, unresized, whatever an
 * editor left under erased pixels.
 */
export function rgbOnWhite(image: RawImage): Buffer {
  const { data, width, height } = image;
  const rgb = Buffer.allocUnsafe(width * height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    const alpha = data[i + 3]!;
    const white = 255 - alpha;
    rgb[j] = Math.round((data[i]! * alpha) / 255 + white);
    rgb[j + 1] = Math.round((data[i + 1]! * alpha) / 255 + white);
    rgb[j + 2] = Math.round((data[i + 2]! * alpha) / 255 + white);
  }
  return rgb;
}

export interface Letterboxed {
  /** `size` x `size` RGB pixels: the image fitted inside, centred, on black. */
  pixels: Buffer;
  scale: number;
  padX: number;
  padY: number;
}

/**
 * Fits an RGBA image, flattened on white, inside a square model input without distorting it, as
 * detectors trained on letterboxed inputs expect. `toSource` maps model coordinates back to the image's pixels.
 */
export async function letterbox(image: RawImage, size: number): Promise<Letterboxed> {
  const scale = Math.min(size / image.width, size / image.height);
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const padX = Math.floor((size - width) / 2);
  const padY = Math.floor((size - height) / 2);
  const pixels = await sharp(rgbOnWhite(image), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .extend({ top: padY, bottom: size - height - padY, left: padX, right: size - width - padX, background: '#000000' })
    .raw()
    .toBuffer();
  return { pixels, scale, padX, padY };
}

export function toSource(box: Letterboxed, x: number, y: number): [number, number] {
  return [(x - box.padX) / box.scale, (y - box.padY) / box.scale];
}
