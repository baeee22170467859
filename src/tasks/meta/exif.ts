/**
 * A small, JSON-friendly summary of an image's EXIF block.
 */
import exifReader from 'exif-reader';

// A type alias, not an interface: only aliases are assignable to JsonValue's index signature.
export type ExifSummary = {
  make?: string;
  model?: string;
  lens?: string;
  software?: string;
  /** Local wall-clock time as recorded, ISO 8601; carries an offset only when the file states one. */
  takenAt?: string;
  /** Seconds. */
  exposureTime?: number;
  fNumber?: number;
  iso?: number;
  /** Millimetres (actual, not 35 mm equivalent). */
  focalLength?: number;
  /** True when GPS latitude and longitude tags are present, even if unreadable. */
  gps: boolean;
  /** Signed decimal degrees, north positive. */
  latitude?: number;
  /** Signed decimal degrees, east positive. */
  longitude?: number;
};

type Directory = Record<string, unknown> | null | undefined;

/**
 * Summarises raw EXIF (as sharp's `metadata().exif` returns it, starting "Exif\0\0", or a bare
 * TIFF header). Returns null when there is no EXIF or it cannot be parsed: EXIF written by
 * cameras and editors is often damaged, and that must not fail the job.
 */
export function summariseExif(exif: Buffer | undefined): ExifSummary | null {
  if (!exif || exif.length === 0) return null;
  try {
    return summarise(exifReader(exif));
  } catch {
    return null;
  }
}

function summarise(parsed: ReturnType<typeof exifReader>): ExifSummary {
  const image = parsed.Image as Directory;
  const photo = parsed.Photo as Directory;
  const gpsInfo = parsed.GPSInfo as Directory;

  const summary: ExifSummary = { gps: false };
  assign(summary, 'make', text(image?.['Make']));
  assign(summary, 'model', text(image?.['Model']));
  assign(summary, 'lens', text(photo?.['LensModel']));
  assign(summary, 'software', text(image?.['Software']));
  assign(
    summary,
    'takenAt',
    timestamp(photo?.['DateTimeOriginal'], photo?.['OffsetTimeOriginal']) ??
      timestamp(photo?.['DateTimeDigitized'], photo?.['OffsetTimeDigitized']) ??
      timestamp(image?.['DateTime'], photo?.['OffsetTime']),
  );
  assign(summary, 'exposureTime', positive(photo?.['ExposureTime']));
  assign(summary, 'fNumber', positive(photo?.['FNumber']));
  assign(summary, 'iso', positive(photo?.['ISOSpeedRatings']) ?? positive(photo?.['ISOSpeed']));
  assign(summary, 'focalLength', positive(photo?.['FocalLength']));

  const latitude = gpsInfo?.['GPSLatitude'];
  const longitude = gpsInfo?.['GPSLongitude'];
  if (latitude != null && longitude != null) {
    summary.gps = true;
    assign(summary, 'latitude', degrees(latitude, gpsInfo?.['GPSLatitudeRef'], 'S', 90));
    assign(summary, 'longitude', degrees(longitude, gpsInfo?.['GPSLongitudeRef'], 'W', 180));
  }
  return summary;
}

/** Sets a field only when there is a value, so absent fields stay absent in the JSON. */
function assign<K extends keyof ExifSummary>(summary: ExifSummary, key: K, value: ExifSummary[K] | undefined): void {
  if (value !== undefined) summary[key] = value;
}

/**
 * exif-reader hands back a Buffer instead of a string when the bytes are not ASCII; such
 * strings are UTF-8 in practice. EXIF ASCII is NUL-terminated and firmware pads fixed-size
 * fields with NULs or spaces, so anything from the first NUL on is padding.
 */
function text(value: unknown): string | undefined {
  let s: string | undefined;
  if (typeof value === 'string') s = value;
  else if (Buffer.isBuffer(value)) s = value.toString('utf8');
  if (s === undefined) return undefined;
  s = s.split('\u0000', 1)[0]!.trim();
  return s.length > 0 ? s : undefined;
}

function positive(value: unknown): number | undefined {
  const n = Array.isArray(value) ? value[0] : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

const OFFSET = /^[+-]\d{2}:\d{2}$/;

/**
 * EXIF dates are local wall-clock time with no zone; exif-reader parses them as if they were
 * UTC. Formatting that Date in UTC therefore gives back exactly the recorded wall clock, and
 * the trailing 'Z' is dropped because claiming UTC would invent a zone. The EXIF 2.31 offset
 * tag, when present and well-formed, is appended since the file itself states it.
 */
function timestamp(value: unknown, offset: unknown): string | undefined {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) return undefined;
  // "0000:00:00 00:00:00", the usual placeholder for an unset clock, parses to 1899-11-30.
  if (value.getUTCFullYear() < 1900) return undefined;
  const local = value.toISOString().slice(0, 19);
  const zone = text(offset);
  return zone !== undefined && OFFSET.test(zone) ? local + zone : local;
}

/**
 * Degrees, minutes, seconds to signed decimal degrees, rounded to 6 decimals (about 0.1 m,
 * well below GPS accuracy). A missing reference is read as north/east, as most readers do.
 */
function degrees(dms: unknown, ref: unknown, negativeRef: 'S' | 'W', limit: number): number | undefined {
  const parts = Array.isArray(dms) ? dms : [dms];
  if (parts.length === 0 || parts.length > 3) return undefined;
  let value = 0;
  for (const [i, part] of parts.entries()) {
    if (typeof part !== 'number' || !Number.isFinite(part) || part < 0) return undefined;
    value += part / 60 ** i;
  }
  if (value > limit) return undefined;
  const sign = text(ref)?.toUpperCase() === negativeRef ? -1 : 1;
  return Math.round(sign * value * 1e6) / 1e6;
}
