/**
 * The input of the MobileNetV2 that nsfwjs ships, prepared the way it was trained: the whole
 * upright image stretched to 224x224, transparency on white, sRGB, as RGB bytes (nsfwjs divides
 * by 255 itself). Shared by nsfw (its classes) and embed (its features).
 *
 * The stretch is libvips' lanczos3, antialiased, after JPEG shrink-on-load: for a 1920 px photo
 * it gives the same 224 px pixels as a full decode within 42 dB PSNR, and a 50 % or 25 % copy
 * lands within 38-46 dB of them. Checked because small copies score low in `embed` (0.41-0.85 for
 * a 240 px copy of a 1920 px photo): that is detail the copy lacks, not the resize; no other
 * kernel (cubic, linear, nearest, no shrink-on-load) kept them close either.
 */
import { TaskError } from '../errors.js';
import { openImage } from './image.js';

export const MOBILENET_SIDE = 224;

export async function mobileNetPixels(bytes: Buffer): Promise<Buffer> {
  const { data } = await openImage(bytes)
    .autoOrient()
    .resize(MOBILENET_SIDE, MOBILENET_SIDE, { fit: 'fill' })
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const expected = MOBILENET_SIDE * MOBILENET_SIDE * 3;
  if (data.length !== expected) throw new TaskError('E_DECODE', `expected ${MOBILENET_SIDE}x${MOBILENET_SIDE} RGB pixels, got ${data.length} bytes`);
  return data;
}
