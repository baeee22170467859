/**
 * Camera-like JPEG corpora for the preprocess suite, built deterministically from photos that
 * ship with the checkout (the six face-api demo photos, 1920 px, and two fixture photos):
 *
 *   bench/.corpus/preprocess/<W>x<H>-<N>/cam-000.jpg ...
 *
 * File i is photo i mod 8, cropped to W:H around a point that moves with i, scaled to WxH
 * (upright), with seeded sensor-like grain (so that the JPEG is as heavy as a camera's, 2-3 MB
 * at 3000x2000, not the few hundred KB of a smooth upscale) and saved at quality 92. Then, as
 * in a camera roll:
 *   - 3 files in 8 are stored sideways or upside down with the EXIF orientation that makes
 *     them upright again (6, 8 and 3), so auto-orient has real work;
 *   - 1 file in 3 is converted to Display P3 and carries that ICC profile, so the sRGB
 *     conversion has real work; of the others, the turned ones are tagged sRGB and the rest
 *     carry no profile (sRGB by convention).
 * Each file's expectation (upright size, orientation, profile) is in the marker file, so the
 * suite can check every tool's outputs against it.
 *
 * Also usable on its own: `node bench/preprocess-corpus.js 3000x2000 64` prints the folder.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { prng } from '../fixtures/make-fixtures.js';
import { log, ROOT_DIR } from './lib.js';
import { PHOTOS } from './photos.js';

export const PREPROCESS_CORPUS_ROOT = path.join(ROOT_DIR, 'bench', '.corpus', 'preprocess');
const VERSION = 1;
const MARKER = '.complete';
const QUALITY = 92;
/** Orientation of file i by i mod 8: 3 in 8 need turning. */
const ORIENTATIONS = [1, 6, 1, 1, 8, 1, 3, 1];
/** What to rotate the upright pixels by so that the EXIF orientation turns them back. */
const STORED_ROTATION = { 1: 0, 3: 180, 6: 270, 8: 90 };

/** The plan of file `index`: source photo, crop position, orientation, profile. */
export function corpusFile(index) {
  const photo = PHOTOS[index % PHOTOS.length];
  const random = prng(0x5eed ^ Math.imul(index + 1, 0x85ebca6b));
  return {
    name: `cam-${String(index).padStart(3, '0')}.jpg`,
    source: photo.source,
    focusX: random(),
    focusY: random(),
    orientation: ORIENTATIONS[index % ORIENTATIONS.length],
    p3: index % 3 === 0,
    seed: Math.floor(random() * 2 ** 31),
  };
}

async function makeFile(file, width, height, out) {
  // Upright pixels: a crop of the photo at the output aspect, around the planned point.
  const meta = await sharp(file.source).metadata();
  const scale = Math.min(meta.width / width, meta.height / height);
  const cropW = Math.floor(width * scale);
  const cropH = Math.floor(height * scale);
  const left = Math.floor((meta.width - cropW) * file.focusX);
  const top = Math.floor((meta.height - cropH) * file.focusY);
  const { data } = await sharp(file.source)
    .extract({ left, top, width: cropW, height: cropH })
    .resize(width, height, { kernel: 'lanczos3' })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  // Grain: a seeded value per pixel, the same on the three channels (luminance noise).
  const random = prng(file.seed);
  for (let p = 0; p < data.length; p += 3) {
    const grain = Math.round((random() - 0.5) * 14);
    for (let c = 0; c < 3; c++) data[p + c] = Math.max(0, Math.min(255, data[p + c] + grain));
  }
  let image = sharp(data, { raw: { width, height, channels: 3 } });
  const rotation = STORED_ROTATION[file.orientation];
  if (rotation) image = sharp(await image.rotate(rotation).raw().toBuffer(), { raw: { width: rotation === 180 ? width : height, height: rotation === 180 ? height : width, channels: 3 } });
  // withMetadata is sharp's way to write an orientation; it tags sRGB unless P3 is asked for.
  if (file.orientation !== 1) image = image.withMetadata({ orientation: file.orientation });
  if (file.p3) image = image.withIccProfile('p3');
  const info = await image.jpeg({ quality: QUALITY, chromaSubsampling: '4:2:0' }).toFile(out);
  return { bytes: info.size };
}

/**
 * The folder of an N-file corpus at WxH (generated unless cached) and what each file should give:
 * { dir, files: [{ name, uprightWidth, uprightHeight, orientation, p3, bytes }] }.
 */
export async function ensurePreprocessCorpus(width, height, count) {
  const dir = path.join(PREPROCESS_CORPUS_ROOT, `${width}x${height}-${count}`);
  const expected = { version: VERSION, width, height, count, quality: QUALITY };
  try {
    const marker = JSON.parse(await readFile(path.join(dir, MARKER), 'utf8'));
    if (JSON.stringify(marker.settings) === JSON.stringify(expected)) {
      log(`preprocess corpus: ${count} files of ${width}x${height} cached in ${path.relative(ROOT_DIR, dir)}`);
      return { dir, files: marker.files };
    }
  } catch {
    // Not there or from another version: made again below.
  }
  log(`preprocess corpus: generating ${count} camera-like JPEGs of ${width}x${height} in ${path.relative(ROOT_DIR, dir)}`);
  const started = performance.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const files = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const file = corpusFile(index);
      const { bytes } = await makeFile(file, width, height, path.join(dir, file.name));
      files[index] = { name: file.name, uprightWidth: width, uprightHeight: height, orientation: file.orientation, p3: file.p3, bytes };
    }
  };
  await Promise.all(Array.from({ length: 2 }, lane));
  await writeFile(path.join(dir, MARKER), `${JSON.stringify({ settings: expected, files })}\n`);
  const megabytes = files.reduce((sum, f) => sum + f.bytes, 0) / 2 ** 20;
  log(`preprocess corpus: ${count} files, ${megabytes.toFixed(0)} MB, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { dir, files };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [size = '3000x2000', count = '64'] = process.argv.slice(2);
  const [width, height] = size.split('x').map(Number);
  process.stdout.write(`${(await ensurePreprocessCorpus(width, height, Number(count))).dir}\n`);
}
