/**
 * meta: what a catalogue needs to know about each file, from one header read and one
 * small upright decode.
 */
import type { Handler, JobInput } from '../contract.js';
import { decodeUprightRgba, greyThumbnail, openImage, uprightSize } from '../../runtime/image.js';
import { dominantColours } from '../../runtime/colour.js';
import { perceptualHash } from './phash.js';
import { pixelStats } from './pixels.js';
import { summariseExif } from './exif.js';

/** Analysis runs at a fixed scale so that sharpness values compare across resolutions. */
const ANALYSIS_SIDE = 512;

/** Below this RMS contrast there is too little detail for the Laplacian to measure focus. */
const MIN_CONTRAST_FOR_BLUR = 0.02;

const BIT_DEPTH: Record<string, number> = { uchar: 8, char: 8, ushort: 16, short: 16, uint: 32, int: 32, float: 32, double: 64 };

async function analyse(job: JobInput) {
  const options = job.options as { 'blur-threshold': number; colours: number };
  const header = await openImage(job.bytes).metadata();
  const pixels = await decodeUprightRgba(job.bytes, ANALYSIS_SIDE);
  const stats = pixelStats(pixels.data, pixels.width, pixels.height);
  const phash = perceptualHash(greyThumbnail(pixels, 32));
  const [width, height] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
  const pages = header.pages ?? 1;

  return {
    result: {
      format: header.format ?? 'unknown',
      width,
      height,
      storedWidth: header.width ?? 0,
      storedHeight: header.height ?? 0,
      orientation: header.orientation ?? 1,
      channels: header.channels ?? 0,
      alpha: header.hasAlpha ?? false,
      colourSpace: header.space ?? 'unknown',
      bitDepth: BIT_DEPTH[header.depth ?? ''] ?? null,
      icc: header.icc !== undefined,
      pages,
      animated: pages > 1 && header.delay !== undefined,
      // Everything measured below (size, colours, hashes, sharpness) is of the first page or frame.
      firstPageOnly: pages > 1,
      progressive: header.isProgressive ?? false,
      density: header.density ?? null,
      bytes: job.bytes.length,
      exif: summariseExif(header.exif),
      sha256: job.sha256,
      phash,
      colours: options.colours > 0 ? dominantColours(pixels.data, pixels.width, pixels.height, options.colours) : [],
      brightness: stats.brightness,
      contrast: stats.contrast,
      sharpness: stats.sharpness,
      // A flat image has no edges to judge focus by: say so rather than call it blurry.
      blurry: stats.contrast < MIN_CONTRAST_FOR_BLUR ? null : stats.sharpness < options['blur-threshold'],
    },
  };
}

export function createHandler(): Handler {
  return analyse;
}
