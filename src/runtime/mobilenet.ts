/**
 * The input of the MobileNetV2 that nsfwjs ships, prepared the way it was trained: the whole
 * upright image stretched to 224x224, transparency on white, sRGB, as RGB bytes (nsfwjs divides
 * by 255 itself). Shared by nsfw (its classes) and embed (its features).
 */
import { TaskError } from '../tasks/contract.js';
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
