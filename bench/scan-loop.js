/**
 * The scan suite's baseline: list the inputs and stat every file, nothing else (no ledger, no
 * shard, no jobs). The same two inputs as `imgpipe run`:
 *
 *   node bench/scan-loop.js --dir DIR          recursive readdir, then lstat every image file
 *   node bench/scan-loop.js --manifest FILE    a CSV manifest (id,path) read line by line, lstat
 *                                              every path
 *
 * 64 stats in flight (imgpipe's STAT_AHEAD). Prints one JSON line: { files, wallMs, maxRssMb }.
 */
import { createReadStream, readdirSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { peakRssMb } from '../dist/observe/peak-memory.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, manifest: { type: 'string' } } });
if (!values.dir === !values.manifest) {
  process.stderr.write('usage: node bench/scan-loop.js --dir DIR | --manifest FILE\n');
  process.exit(2);
}
const IMAGE = /\.(jpg|jpeg|png|webp|avif|gif|tif|tiff|heic|heif)$/i;
const AHEAD = 64;
const started = performance.now();

async function* paths() {
  if (values.dir) {
    for (const entry of readdirSync(values.dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && IMAGE.test(entry.name)) yield path.join(entry.parentPath ?? entry.path, entry.name);
    }
    return;
  }
  let header = true;
  for await (const line of createInterface({ input: createReadStream(values.manifest), crlfDelay: Infinity })) {
    if (header) {
      header = false;
      continue;
    }
    const comma = line.indexOf(',');
    if (comma > 0) yield line.slice(comma + 1);
  }
}

let files = 0;
const pending = [];
for await (const file of paths()) {
  pending.push(lstat(file));
  if (pending.length >= AHEAD) {
    await pending.shift();
    files += 1;
  }
}
for (const stat of pending) {
  await stat;
  files += 1;
}
process.stdout.write(`${JSON.stringify({ event: 'scan-summary', files, wallMs: performance.now() - started, maxRssMb: peakRssMb() })}\n`);
