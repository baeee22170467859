/**
 * anonymize: hides every face that `faces` found, on the upright full-resolution image. Blur
 * strength and pixel size scale with the face, so a large face is as unrecognisable as a small
 * one. Decoded once; each region is processed from the decoded pixels.
 */
import sharp, { type OverlayOptions } from '../../runtime/sharp.js';
import type { Handler, JobInput } from '../contract.js';
import { TaskError } from '../contract.js';
import { openImage } from '../../runtime/image.js';
import { imageSuffix } from '../../runtime/artifacts.js';
import type { FacesResult } from '../faces/worker.js';

type Mode = 'blur' | 'pixelate' | 'fill';
type Format = 'jpeg' | 'png' | 'webp';

interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

const WRITABLE: Record<string, Format> = { jpeg: 'jpeg', png: 'png', webp: 'webp' };

function grow(box: FacesResult['faces'][number]['box'], margin: number, width: number, height: number): Region | undefined {
  const left = Math.max(0, Math.floor(box.x - box.width * margin));
  const top = Math.max(0, Math.floor(box.y - box.height * margin));
  const right = Math.min(width, Math.ceil(box.x + box.width * (1 + margin)));
  const bottom = Math.min(height, Math.ceil(box.y + box.height * (1 + margin)));
  return right - left >= 2 && bottom - top >= 2 ? { left, top, width: right - left, height: bottom - top } : undefined;
}

async function hide(pixels: Buffer, info: { width: number; height: number; channels: 1 | 2 | 3 | 4 }, region: Region, mode: Mode, colour: string): Promise<OverlayOptions> {
  const raw = { width: region.width, height: region.height, channels: info.channels };
  if (mode === 'fill') {
    const channels = info.channels === 2 || info.channels === 4 ? 4 : 3;
    return { input: { create: { width: region.width, height: region.height, channels, background: colour } }, left: region.left, top: region.top };
  }
  const size = Math.max(region.width, region.height);
  const crop = sharp(pixels, { raw: info }).extract(region);
  let data: Buffer;
  if (mode === 'blur') {
    // Sigma a sixth of the face: features gone at any size, the region still reads as a face-coloured patch.
    data = await crop.blur(Math.max(3, size / 6)).raw().toBuffer();
  } else {
    // About 8 blocks across the face.
    const cells = Math.max(2, Math.round(8 * (region.width / size)));
    const rows = Math.max(2, Math.round(8 * (region.height / size)));
    const small = await crop.resize(cells, rows, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer();
    data = await sharp(small, { raw: { width: cells, height: rows, channels: info.channels } })
      .resize(region.width, region.height, { fit: 'fill', kernel: 'nearest' })
      .raw()
      .toBuffer();
  }
  return { input: data, raw, left: region.left, top: region.top };
}

async function anonymize(job: JobInput) {
  const options = job.options as { mode: Mode; 'min-score': number; margin: number; format: string; colour: string };
  const faces = job.inputs.faces as FacesResult | undefined;
  if (!faces) throw new TaskError('E_DEPENDENCY', 'no faces result for this image');
  const header = await openImage(job.bytes).metadata();
  const format: Format = options.format === 'same' ? WRITABLE[header.format ?? ''] ?? 'png' : (options.format as Format);
  // Upright full resolution: faces' boxes are in these coordinates. sharp strips all metadata on output.
  const { data, info } = await openImage(job.bytes).autoOrient().raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels as 1 | 2 | 3 | 4;
  const regions = faces.faces
    .filter((face) => face.score >= options['min-score'])
    .map((face) => grow(face.box, options.margin, info.width, info.height))
    .filter((region): region is Region => region !== undefined);
  const overlays = await Promise.all(regions.map((region) => hide(data, { width: info.width, height: info.height, channels }, region, options.mode, options.colour)));
  let image = sharp(data, { raw: { width: info.width, height: info.height, channels } }).composite(overlays);
  image = format === 'jpeg' ? image.jpeg({ quality: 90 }) : format === 'png' ? image.png() : image.webp({ quality: 90 });
  const encoded = await image.toBuffer();
  const output = await job.artifacts.write(encoded, imageSuffix(job.key, format));
  return { result: { output, hidden: regions.length, mode: options.mode, regions, width: info.width, height: info.height }, artifacts: [output] };
}

export function createHandler(): Handler {
  return anonymize;
}
