/**
 * The preprocess suite's ceiling: the same job as `imgpipe run --tasks preprocess` (auto-orient,
 * sRGB, fit inside 1024x1024 without enlarging, JPEG q85, metadata stripped) done by sharp in a
 * plain loop on the main thread, K images in flight, nothing else: no worker threads, no ledger,
 * no hashing, no atomic rename.
 *
 *   node bench/sharp-loop.js --corpus DIR --out DIR [--in-flight K] [--vips-threads T]
 *
 * --in-flight (default 2) is imgpipe's pool size on 2 cores; --vips-threads (default 1) is the
 * libvips threads per image, as imgpipe sets them (sharp.concurrency(1)), so that both run the
 * same number of images at once with the same threads each. The files are listed before the
 * clock starts. Prints one JSON line on stdout; exits 1 if any image failed.
 */
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { peakRssMb } from '../dist/observe/peak-memory.js';
import sharp from 'sharp';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    out: { type: 'string' },
    'in-flight': { type: 'string', default: '2' },
    'vips-threads': { type: 'string', default: '1' },
  },
});
if (!values.corpus || !values.out) {
  process.stderr.write('usage: node bench/sharp-loop.js --corpus DIR --out DIR [--in-flight K] [--vips-threads T]\n');
  process.exit(2);
}
const inFlight = Number(values['in-flight']);
sharp.concurrency(Number(values['vips-threads']));
sharp.cache(false);
const corpus = path.resolve(values.corpus);
const outDir = path.resolve(values.out);
await mkdir(outDir, { recursive: true });
const files = readdirSync(corpus).filter((name) => /\.(jpe?g|png|webp|tiff?)$/i.test(name)).sort();

const started = performance.now();
let next = 0;
let done = 0;
let failed = 0;
let firstFailure;
const lane = async () => {
  while (next < files.length) {
    const name = files[next++];
    try {
      await sharp(path.join(corpus, name))
        .autoOrient()
        .resize(1024, 1024, { fit: 'inside', withoutEnlargement: true })
        .jpeg({ quality: 85 })
        .toFile(path.join(outDir, name.replace(/\.[^.]+$/, '.jpg')));
      done += 1;
    } catch (error) {
      failed += 1;
      firstFailure ??= `${name}: ${error.message}`;
    }
  }
};
await Promise.all(Array.from({ length: inFlight }, lane));
const wallMs = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({
    event: 'bare-summary',
    files: files.length,
    done,
    failed,
    firstFailure,
    inFlight,
    vipsThreads: sharp.concurrency(),
    wallMs,
    jobsPerSecond: done / (wallMs / 1000),
    maxRssMb: peakRssMb(),
  })}\n`,
);
process.exitCode = failed > 0 ? 1 : 0;
