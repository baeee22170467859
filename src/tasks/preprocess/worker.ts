/**
 * preprocess: upright, sRGB, fitted, re-encoded. The input file is never touched; the output
 * is written atomically under OUT/preprocess/.
 */
import exifReader from 'exif-reader';
// image-size's JPEG reader alone: its index loads every format's (about 20 ms a worker thread).
import { JPG } from 'image-size/types/jpg';
import type { Sharp } from '../../runtime/sharp.js';
import type { Handler, JobInput } from '../contract.js';
import { openImage, uprightSize } from '../../runtime/image.js';
import { imageSuffix, type ImageFormat } from '../../runtime/artifacts.js';


function outputFormat(requested: string, inputFormat: string | undefined, hasAlpha: boolean): ImageFormat {
  if (requested !== 'same') return requested as ImageFormat;
  if (inputFormat === 'jpeg' || inputFormat === 'png' || inputFormat === 'webp') return inputFormat;
  if (inputFormat === 'heif') return 'avif';
  return hasAlpha ? 'png' : 'jpeg';
}

/** Camera EXIF (IFD0 and the Exif IFD) as sharp's withExif wants it: strings, GPS left out. */
function exifWithoutGps(exif: Buffer): Record<string, Record<string, string>> {
  const parsed = exifReader(exif) as unknown as Record<string, Record<string, unknown> | undefined>;
  const pick = (ifd: Record<string, unknown> | undefined): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [tag, value] of Object.entries(ifd ?? {})) {
      if (tag === 'Orientation' || tag === 'GPSInfo' || tag === 'ExifTag' || tag === 'GPSTag') continue;
      if (typeof value === 'string' && value.trim() !== '') out[tag] = value.trim();
    }
    return out;
  };
  return { IFD0: pick(parsed.Image), IFD2: pick(parsed.Photo) };
}

/** What the result's `before` and the output choices need to know of the input. */
interface InputFacts {
  format: string | undefined;
  width: number;
  height: number;
  orientation: number | undefined;
  pages: number;
  hasAlpha: boolean;
  exif: Buffer | undefined;
}

/**
 * A JPEG's facts from its markers, parsed in JavaScript in microseconds. The common case is a
 * JPEG in, and sharp's own header read (a second open of the image by libvips) cost about 5 % of
 * a small image's job. A JPEG has one page and no alpha; its EXIF is only wanted to be copied,
 * and then sharp reads it. Anything else, or a JPEG this parse rejects, goes to sharp, which
 * also gives the decode error a broken file deserves.
 */
function jpegFacts(bytes: Buffer): InputFacts | undefined {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return undefined;
  try {
    const size = JPG.calculate(bytes);
    if (!size.width || !size.height) return undefined;
    return { format: 'jpeg', width: size.width, height: size.height, orientation: size.orientation, pages: 1, hasAlpha: false, exif: undefined };
  } catch {
    return undefined;
  }
}

async function inputFacts(bytes: Buffer, wantExif: boolean): Promise<InputFacts> {
  const fast = wantExif ? undefined : jpegFacts(bytes);
  if (fast) return fast;
  const meta = await openImage(bytes).metadata();
  return {
    format: meta.format,
    width: meta.width ?? 0,
    height: meta.height ?? 0,
    orientation: meta.orientation,
    pages: meta.pages ?? 1,
    hasAlpha: meta.hasAlpha ?? false,
    exif: meta.exif,
  };
}

function encode(image: Sharp, format: ImageFormat, quality: number): Sharp {
  switch (format) {
    case 'jpeg':
      return image.jpeg({ quality, mozjpeg: false });
    case 'png':
      return image.png({ compressionLevel: 6 });
    case 'webp':
      return image.webp({ quality });
    case 'avif':
      return image.avif({ quality, effort: 4 });
  }
}

async function preprocess(job: JobInput) {
  const options = job.options as {
    'max-size': number;
    format: string;
    quality: number;
    metadata: string;
    background: string;
  };
  const facts = await inputFacts(job.bytes, options.metadata === 'keep-no-gps');
  const format = outputFormat(options.format, facts.format, facts.hasAlpha);

  // autoOrient before resize: the fit box applies to the picture as people see it.
  let image = openImage(job.bytes).autoOrient();
  const maxSize = options['max-size'];
  if (maxSize > 0) image = image.resize(maxSize, maxSize, { fit: 'inside', withoutEnlargement: true });
  if (format === 'jpeg' && facts.hasAlpha) image = image.flatten({ background: options.background });

  // sharp converts to sRGB on output by default; these keep the metadata asked for on top.
  if (options.metadata === 'keep') image = image.keepMetadata();
  else if (options.metadata === 'keep-no-gps') {
    image = image.withIccProfile('srgb');
    if (facts.exif) image = image.withExif(exifWithoutGps(facts.exif));
  }

  const { data, info } = await encode(image, format, options.quality).toBuffer({ resolveWithObject: true });
  const output = await job.artifacts.write(data, imageSuffix(job.key, format));
  const [width, height] = uprightSize(facts.width, facts.height, facts.orientation);
  const { pages } = facts;
  return {
    result: {
      output,
      format,
      // An animated GIF or a multi-page TIFF becomes its first frame or page, and the result says so.
      firstPageOnly: pages > 1,
      before: { width, height, bytes: job.bytes.length, format: facts.format ?? 'unknown', pages },
      after: { width: info.width, height: info.height, bytes: info.size },
    },
    artifacts: [output],
  };
}

export function createHandler(): Handler {
  return preprocess;
}
