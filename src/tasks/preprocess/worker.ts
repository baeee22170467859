/**
 * preprocess: upright, sRGB, fitted, re-encoded. The input file is never touched; the output
 * is written atomically under OUT/preprocess/.
 */
import exifReader from 'exif-reader';
import type { Sharp } from 'sharp';
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
  const source = openImage(job.bytes);
  const meta = await source.metadata();
  const format = outputFormat(options.format, meta.format, meta.hasAlpha ?? false);

  // autoOrient before resize: the fit box applies to the picture as people see it.
  let image = openImage(job.bytes).autoOrient();
  const maxSize = options['max-size'];
  if (maxSize > 0) image = image.resize(maxSize, maxSize, { fit: 'inside', withoutEnlargement: true });
  if (format === 'jpeg' && meta.hasAlpha) image = image.flatten({ background: options.background });

  // sharp converts to sRGB on output by default; these keep the metadata asked for on top.
  if (options.metadata === 'keep') image = image.keepMetadata();
  else if (options.metadata === 'keep-no-gps') {
    image = image.withIccProfile('srgb');
    if (meta.exif) image = image.withExif(exifWithoutGps(meta.exif));
  }

  const { data, info } = await encode(image, format, options.quality).toBuffer({ resolveWithObject: true });
  const output = await job.artifacts.write(data, imageSuffix(job.key, format));
  const [width, height] = uprightSize(meta.width ?? 0, meta.height ?? 0, meta.orientation);
  const pages = meta.pages ?? 1;
  return {
    result: {
      output,
      format,
      // An animated GIF or a multi-page TIFF becomes its first frame or page, and the result says so.
      firstPageOnly: pages > 1,
      before: { width, height, bytes: job.bytes.length, format: meta.format ?? 'unknown', pages },
      after: { width: info.width, height: info.height, bytes: info.size },
    },
    artifacts: [output],
  };
}

export function createHandler(): Handler {
  return preprocess;
}
