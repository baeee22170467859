/**
 * Segmentation masks: from a model's low-resolution probability map to an 8-bit alpha channel
 * at the upright original's full resolution, upsampled smoothly (a cubic kernel, so edges are
 * soft rather than blocky), and from there to the files users want: the mask itself, a
 * cut-out with transparency, or the subject on a flat colour.
 *
 * Memory: the only full-size buffers are one byte per pixel of alpha and what libvips streams;
 * no full-size float copy is ever made.
 */
import sharp from './sharp.js';
import { openImage } from './image.js';
import type { Placement } from './tensor.js';

/** Probabilities in [0, 1], row-major, over the model's input (or a scaled copy of it). */
export interface ProbabilityMap {
  data: Float32Array | Float64Array;
  width: number;
  height: number;
}

export type MaskOutput = { kind: 'mask' } | { kind: 'cutout' } | { kind: 'color'; colour: string; format: 'png' | 'jpeg' };

/**
 * The map as alpha over the upright original (width x height bytes). `modelWidth` and
 * `modelHeight` are the model input's size: the map may be at another resolution.
 */
export async function alphaAtFullSize(map: ProbabilityMap, placement: Placement, modelWidth: number, modelHeight: number): Promise<Buffer> {
  const bytes = Buffer.allocUnsafe(map.width * map.height);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.round(Math.min(1, Math.max(0, map.data[i]!)) * 255);
  const { width, height } = placement;
  // The model input, measured in original pixels, and where the original sits inside it.
  let fullW = Math.max(1, Math.round(modelWidth / placement.scaleX));
  let fullH = Math.max(1, Math.round(modelHeight / placement.scaleY));
  const left = Math.round(placement.offsetX / placement.scaleX);
  const top = Math.round(placement.offsetY / placement.scaleY);
  let image = sharp(bytes, { raw: { width: map.width, height: map.height, channels: 1 } });
  if (left >= 0 && top >= 0) {
    // Letterboxed or stretched: the original is a window of the (padded) input.
    fullW = Math.max(fullW, left + width);
    fullH = Math.max(fullH, top + height);
    image = image.resize(fullW, fullH, { fit: 'fill', kernel: 'cubic' }).extract({ left, top, width, height });
  } else {
    // Centre-cropped: the input covers a window of the original; the rest is background.
    const x = Math.max(0, -left);
    const y = Math.max(0, -top);
    fullW = Math.min(fullW, width - x);
    fullH = Math.min(fullH, height - y);
    image = image
      .resize(fullW, fullH, { fit: 'fill', kernel: 'cubic' })
      .extend({ left: x, top: y, right: width - fullW - x, bottom: height - fullH - y, background: { r: 0, g: 0, b: 0 } });
  }
  const alpha = await image.extractChannel(0).raw().toBuffer();
  if (alpha.length !== width * height) throw new Error(`mask came out as ${alpha.length} bytes, expected ${width}x${height}`);
  return alpha;
}

/**
 * The subject's alpha within the image's own: a pixel the input already has transparent is not
 * subject, whatever the model (which sees transparency flattened on white) makes of it. Without
 * this, a cut-out of a PNG whose picture is carried by its alpha (dark ink or text on
 * transparency, a soft shadow) came out as opaque black shapes, showing what lay under the
 * transparent pixels. `alpha` is changed in place and returned.
 */
export async function withinImageAlpha(bytes: Buffer, alpha: Buffer, width: number, height: number): Promise<Buffer> {
  if (!(await openImage(bytes).metadata()).hasAlpha) return alpha;
  const own = await openImage(bytes).autoOrient().toColourspace('srgb').extractChannel(3).raw().toBuffer();
  if (own.length !== width * height) throw new Error(`image alpha came out as ${own.length} bytes, expected ${width}x${height}`);
  for (let i = 0; i < alpha.length; i++) alpha[i] = Math.round((alpha[i]! * own[i]!) / 255);
  return alpha;
}

export interface Foreground {
  /** Share of the image that is foreground (mean alpha). */
  share: number;
  /** Bounding box of pixels at least half opaque, or null when there are none. */
  box: { x: number; y: number; width: number; height: number } | null;
}

export function foregroundOf(alpha: Buffer, width: number, height: number): Foreground {
  let sum = 0;
  let x0 = width;
  let y0 = height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      const a = alpha[row + x]!;
      sum += a;
      if (a >= 128) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  const share = Math.round((sum / 255 / (width * height)) * 10000) / 10000;
  return { share, box: x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 } };
}

/**
 * The upright original without its own alpha, ready for ours. libvips would drop a joined
 * channel if removeAlpha ran in the same pipeline, so an image with alpha is decoded first.
 */
async function opaqueUpright(bytes: Buffer) {
  const upright = openImage(bytes).autoOrient().toColourspace('srgb');
  if (!(await openImage(bytes).metadata()).hasAlpha) return upright;
  const { data, info } = await upright.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
}

/** Encodes what `output` asks for, from the original's bytes and its full-size alpha. */
export async function renderMaskOutput(bytes: Buffer, alpha: Buffer, width: number, height: number, output: MaskOutput): Promise<Buffer> {
  const raw = { raw: { width, height, channels: 1 as const } };
  if (output.kind === 'mask') return sharp(alpha, raw).toColourspace('b-w').png().toBuffer();
  const subject = (await opaqueUpright(bytes)).joinChannel(alpha, raw);
  if (output.kind === 'cutout') return subject.png().toBuffer();
  // A flat colour behind the subject: composite in a second pass, since flatten reads the alpha we just joined.
  const composed = await subject.raw().toBuffer();
  const flat = sharp(composed, { raw: { width, height, channels: 4 } }).flatten({ background: output.colour });
  return output.format === 'jpeg' ? flat.jpeg({ quality: 90 }).toBuffer() : flat.png().toBuffer();
}
