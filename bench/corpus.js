/**
 * Deterministic benchmark corpora: N small JPEGs (64x48, varied colours and patterns from a
 * seeded PRNG), 1000 per subfolder, under bench/.corpus/<N>/. A corpus is generated once and
 * reused: the marker file `.complete` holding the count is written last, so an interrupted
 * generation is redone from scratch next time.
 *
 * Also usable on its own: `node bench/corpus.js 10000` prints the corpus folder.
 */
import { mkdir, readFile, rm, writeFile, readdir, open } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { log, ROOT_DIR } from './lib.js';
import { prng } from '../fixtures/make-fixtures.js';

export const CORPUS_ROOT = path.join(ROOT_DIR, 'bench', '.corpus');
const WIDTH = 64;
const HEIGHT = 48;
const PER_FOLDER = 1000;
const PARALLEL = 8;
/** Bump when the images change, so that cached corpora are regenerated. */
const CORPUS_VERSION = 1;
const MARKER = '.complete';

const PATTERNS = ['solid', 'hgradient', 'vgradient', 'stripes', 'checker', 'noise', 'disc', 'blocks'];

/** Raw RGB pixels of image `index`: the same index always gives the same pixels. */
export function imagePixels(index) {
  const random = prng(0x1a2b3c4d ^ Math.imul(index + 1, 0x9e3779b1));
  const colour = () => [Math.floor(random() * 256), Math.floor(random() * 256), Math.floor(random() * 256)];
  const a = colour();
  const b = colour();
  const pattern = PATTERNS[Math.floor(random() * PATTERNS.length)];
  const period = 2 + Math.floor(random() * 14);
  const cx = random() * WIDTH;
  const cy = random() * HEIGHT;
  const radius = 6 + random() * 20;
  const pixels = Buffer.alloc(WIDTH * HEIGHT * 3);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      let t; // 0 = colour a, 1 = colour b, in between blends
      switch (pattern) {
        case 'solid': t = 0; break;
        case 'hgradient': t = x / (WIDTH - 1); break;
        case 'vgradient': t = y / (HEIGHT - 1); break;
        case 'stripes': t = Math.floor((x + y) / period) % 2; break;
        case 'checker': t = (Math.floor(x / period) + Math.floor(y / period)) % 2; break;
        case 'noise': t = random(); break;
        case 'disc': t = (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2 ? 1 : 0; break;
        default: t = (Math.floor(x / 16) * 7 + Math.floor(y / 16) * 3 + index) % 5 / 4; break;
      }
      const p = (y * WIDTH + x) * 3;
      for (let c = 0; c < 3; c++) pixels[p + c] = Math.round(a[c] * (1 - t) + b[c] * t);
    }
  }
  return { pixels, quality: 70 + Math.floor(random() * 26) };
}

function relativeName(index) {
  const folder = String(Math.floor(index / PER_FOLDER)).padStart(3, '0');
  return path.join(folder, `img-${String(index).padStart(6, '0')}.jpg`);
}

async function isComplete(dir, count) {
  try {
    const marker = JSON.parse(await readFile(path.join(dir, MARKER), 'utf8'));
    return marker.count === count && marker.version === CORPUS_VERSION;
  } catch {
    return false;
  }
}

/** Returns the folder of an N-image corpus, generating it first if it is not cached. */
export async function ensureCorpus(count) {
  const dir = path.join(CORPUS_ROOT, String(count));
  if (await isComplete(dir, count)) {
    log(`corpus: ${count} images cached in ${path.relative(ROOT_DIR, dir)}`);
    return dir;
  }
  log(`corpus: generating ${count} images (${WIDTH}x${HEIGHT} JPEG) in ${path.relative(ROOT_DIR, dir)}`);
  const started = performance.now();
  await rm(dir, { recursive: true, force: true });
  for (let folder = 0; folder * PER_FOLDER < count; folder++) {
    await mkdir(path.join(dir, String(folder).padStart(3, '0')), { recursive: true });
  }
  let next = 0;
  let written = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      const { pixels, quality } = imagePixels(index);
      await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } })
        .jpeg({ quality })
        .toFile(path.join(dir, relativeName(index)));
      written += 1;
      if (written % 5000 === 0 && written < count) log(`corpus: ${written}/${count}`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  await writeFile(path.join(dir, MARKER), `${JSON.stringify({ count, version: CORPUS_VERSION, width: WIDTH, height: HEIGHT })}\n`);
  log(`corpus: ${count} images in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return dir;
}

/**
 * Reads every file of a corpus once, so that the first measured run does not pay for a cold
 * page cache that later runs do not.
 */
export async function warmCorpus(dir) {
  const buffer = Buffer.alloc(64 * 1024);
  for (const folder of (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory())) {
    for (const name of await readdir(path.join(dir, folder.name))) {
      const handle = await open(path.join(dir, folder.name, name), 'r');
      try {
        await handle.read(buffer, 0, buffer.length, 0);
      } finally {
        await handle.close();
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const count = Number(process.argv[2] ?? 1000);
  if (!Number.isInteger(count) || count < 1) {
    process.stderr.write('usage: node bench/corpus.js <count>\n');
    process.exit(2);
  }
  process.stdout.write(`${await ensureCorpus(count)}\n`);
}
