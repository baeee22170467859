/**
 * Real-photo corpora for the model suites, made by copying files that ship with the checkout
 * (nothing is generated or downloaded):
 *   - the six demo photos of @vladmandic/face-api (node_modules/@vladmandic/face-api/demo/
 *     sample1..6.jpg, 1920 px wide, 3 to 5 people each: 22 faces, see bench/faces-truth.json);
 *   - two of the repository's fixture photos without people (fixtures/photos/landscape.jpg, and
 *     portrait-rotated.jpg, whose EXIF orientation 6 makes the upright handling do work).
 *
 *   bench/.corpus/models/eval/        the 8 photos once, under their own names (accuracy)
 *   bench/.corpus/models/<N>/         N files, the 8 photos in turn: 00-sample1.jpg ...
 *                                     07-portrait-rotated.jpg, 08-sample1.jpg ... (throughput)
 *
 * Copies are byte-identical to their source, so every copy of a photo costs the same and gives
 * the same result. A corpus is reused while its marker (`.complete`, written last) matches the
 * sources' sizes; otherwise it is made again.
 *
 * Also usable on its own: `node bench/photos.js 48` prints the corpus folder.
 */
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BenchFailure, log, ROOT_DIR } from './lib.js';

export const PHOTO_CORPUS_ROOT = path.join(ROOT_DIR, 'bench', '.corpus', 'models');
const MARKER = '.complete';
const VERSION = 1;

const DEMO_DIR = path.join(ROOT_DIR, 'node_modules', '@vladmandic', 'face-api', 'demo');
const FIXTURES_DIR = path.join(ROOT_DIR, 'fixtures', 'photos');

/** The source photos, in corpus order: [name, absolute path, has people]. */
export const PHOTOS = [
  ...[1, 2, 3, 4, 5, 6].map((n) => ({ name: `sample${n}.jpg`, source: path.join(DEMO_DIR, `sample${n}.jpg`), people: true })),
  { name: 'landscape.jpg', source: path.join(FIXTURES_DIR, 'landscape.jpg'), people: false },
  { name: 'portrait-rotated.jpg', source: path.join(FIXTURES_DIR, 'portrait-rotated.jpg'), people: false },
];

async function sourceSizes() {
  const sizes = {};
  for (const photo of PHOTOS) {
    try {
      sizes[photo.name] = (await stat(photo.source)).size;
    } catch {
      throw new BenchFailure(`${path.relative(ROOT_DIR, photo.source)} is missing (run npm ci; the fixtures are in the repository)`);
    }
  }
  return sizes;
}

async function isComplete(dir, expected) {
  try {
    return JSON.stringify(JSON.parse(await readFile(path.join(dir, MARKER), 'utf8'))) === JSON.stringify(expected);
  } catch {
    return false;
  }
}

async function ensure(dir, files, what) {
  const expected = { version: VERSION, files: files.map(([name, photo]) => [name, photo.name]), sizes: await sourceSizes() };
  if (await isComplete(dir, expected)) {
    log(`photos: ${what} cached in ${path.relative(ROOT_DIR, dir)}`);
    return dir;
  }
  log(`photos: copying ${what} to ${path.relative(ROOT_DIR, dir)}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [name, photo] of files) await copyFile(photo.source, path.join(dir, name));
  await writeFile(path.join(dir, MARKER), `${JSON.stringify(expected)}\n`);
  return dir;
}

/** The 8 photos once, under their own names: the accuracy corpus. */
export function ensureEvalCorpus() {
  return ensure(path.join(PHOTO_CORPUS_ROOT, 'eval'), PHOTOS.map((photo) => [photo.name, photo]), `${PHOTOS.length} photos`);
}

/** `count` files cycling through the 8 photos: the throughput corpus. */
export function ensurePhotoCorpus(count) {
  const width = String(count - 1).length < 2 ? 2 : String(count - 1).length;
  const files = Array.from({ length: count }, (_, i) => {
    const photo = PHOTOS[i % PHOTOS.length];
    return [`${String(i).padStart(width, '0')}-${photo.name}`, photo];
  });
  return ensure(path.join(PHOTO_CORPUS_ROOT, String(count)), files, `${count} photos`);
}

/** How many files of an N-file corpus are copies of photos with people, and without. */
export function corpusMix(count) {
  const withPeople = Array.from({ length: count }, (_, i) => PHOTOS[i % PHOTOS.length].people).filter(Boolean).length;
  return { withPeople, withoutPeople: count - withPeople };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const count = Number(process.argv[2] ?? 48);
  if (!Number.isInteger(count) || count < 1) {
    process.stderr.write('usage: node bench/photos.js <count>\n');
    process.exit(2);
  }
  process.stdout.write(`${await ensurePhotoCorpus(count)}\n`);
}
