/**
 * `imgpipe duplicates` at scale: ledgers of N stored embeddings (generated vectors shaped like
 * the embed task's: non-negative, unit length, unrelated pairs at cosine about 0.5) with planted
 * near copies every 100th image, and 64-bit perceptual hashes with planted copies. Measures the
 * wall time of `imgpipe duplicates --by embedding` and `--by phash` (process start-up and reading
 * the ledger included), and checks that every planted pair is found. The baseline is the exact
 * all-pairs cosine scan in the same JavaScript, timed on a sample of rows and extrapolated.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { BenchFailure, formatNumber, formatStats, log, markdownTable, ROOT_DIR, stats } from '../lib.js';

const DIMS = 1280;
const PLANT_EVERY = 100;

function generator(seed) {
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  return { random, gauss };
}

/** A ledger with `count` images, each with a done meta job (phash) and a done embed job (vector). */
async function buildLedger(file, count) {
  const { Ledger } = await import(path.join(ROOT_DIR, 'dist/pipeline/ledger.js'));
  const ledger = Ledger.openForWrite(file);
  const { random, gauss } = generator(11);
  const common = Float32Array.from({ length: DIMS }, () => random());
  const insertImage = ledger.db.prepare('INSERT INTO images (key, path, sha256) VALUES (?, ?, ?) RETURNING id');
  const insertJob = ledger.db.prepare("INSERT INTO jobs (image_id, task, state, attempts, task_version, result, vector) VALUES (?, ?, 'done', 1, 1, ?, ?)");
  let previous = new Float32Array(DIMS);
  let previousHash = 0n;
  ledger.db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      const planted = i % PLANT_EVERY === 1;
      const vector = new Float32Array(DIMS);
      for (let k = 0; k < DIMS; k += 1) vector[k] = planted ? previous[k] + 0.012 * gauss() : Math.max(0, common[k] * 0.5 + gauss() * 0.6);
      const norm = Math.hypot(...vector);
      for (let k = 0; k < DIMS; k += 1) vector[k] /= norm;
      let hash = BigInt(Math.floor(random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(random() * 2 ** 32));
      if (planted) hash = previousHash ^ (1n << BigInt(Math.floor(random() * 64))) ^ (1n << BigInt(Math.floor(random() * 64)));
      const key = `img-${String(i).padStart(7, '0')}.jpg`;
      const { id } = insertImage.get(key, `/bench/${key}`, `sha-${i}`);
      insertJob.run(id, 'meta', JSON.stringify({ phash: hash.toString(16).padStart(16, '0') }), null);
      insertJob.run(id, 'embed', JSON.stringify({ dims: DIMS }), Buffer.from(vector.buffer));
      previous = vector;
      previousHash = hash;
    }
  })();
  ledger.close();
}

/** Exact all-pairs cosine, rows 0..sample against all n, timed; extrapolated to n(n-1)/2 pairs. */
async function allPairsEstimate(file, count, sample) {
  const { Ledger } = await import(path.join(ROOT_DIR, 'dist/pipeline/ledger.js'));
  const { iterateVectors } = await import(path.join(ROOT_DIR, 'dist/pipeline/ledger-queries.js'));
  const ledger = Ledger.openForRead(file);
  const data = new Float32Array(count * DIMS);
  let n = 0;
  for (const { vector } of iterateVectors(ledger.db, 'embed')) data.set(vector, DIMS * n++);
  ledger.close();
  const started = performance.now();
  let pairs = 0;
  let sink = 0;
  for (let a = 0; a < sample; a += 1) {
    for (let b = a + 1; b < n; b += 1) {
      let dot = 0;
      for (let k = 0; k < DIMS; k += 1) dot += data[a * DIMS + k] * data[b * DIMS + k];
      if (dot >= 0.9) sink += 1;
      pairs += 1;
    }
  }
  const perPairMs = (performance.now() - started) / pairs;
  return { perPairNs: perPairMs * 1e6, estimatedMs: (perPairMs * n * (n - 1)) / 2, sink };
}

/** stdout is one JSON document, not JSON lines (which lib's runNode reads): collected whole here. */
async function timeDuplicates(db, by) {
  const args = ['bin/imgpipe.js', 'duplicates', '--db', db, '--by', by, '--format', 'json'];
  const started = process.hrtime.bigint();
  const text = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks = [];
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks).toString()) : reject(new BenchFailure(`imgpipe ${args.slice(1).join(' ')} exited ${code}`))));
  });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  return { wallMs, groups: JSON.parse(text) };
}

/** How many planted pairs ended up in one group of this kind. */
function plantedFound(groups, count, kind) {
  const groupOf = new Map();
  for (const group of groups.filter((g) => g.kind === kind)) for (const key of group.keys) groupOf.set(key, group);
  let found = 0;
  const planted = Math.floor((count - 2) / PLANT_EVERY) + 1;
  for (let i = 1; i < count; i += PLANT_EVERY) {
    const [a, b] = [`img-${String(i - 1).padStart(7, '0')}.jpg`, `img-${String(i).padStart(7, '0')}.jpg`];
    if (groupOf.has(a) && groupOf.get(a) === groupOf.get(b)) found += 1;
  }
  return { planted, found, groups: groups.filter((g) => g.kind === kind).length };
}

export default {
  name: 'duplicates',
  title: 'imgpipe duplicates at 10,000 and 100,000 stored embeddings',
  defaults: { sizes: [10000, 100000] },

  reproduce(entry) {
    return `npm run bench -- --suite duplicates --sizes ${entry.settings.sizes.join(',')} --repeat ${entry.settings.repeat}`;
  },

  async run({ sizes, repeat, workDir: work }) {
    const samples = {};
    for (const size of sizes) {
      const db = path.join(work, `ledger-${size}.db`);
      log(`duplicates: generating a ledger of ${size} embeddings`);
      await buildLedger(db, size);
      const embedding = [];
      const phash = [];
      let recall;
      for (let r = 1; r <= repeat; r += 1) {
        log(`duplicates ${size}, repeat ${r}/${repeat}`);
        const byEmbedding = await timeDuplicates(db, 'embedding');
        const byPhash = await timeDuplicates(db, 'phash');
        embedding.push(byEmbedding.wallMs);
        phash.push(byPhash.wallMs);
        recall = { embedding: plantedFound(byEmbedding.groups, size, 'similar'), phash: plantedFound(byPhash.groups, size, 'near') };
        if (recall.embedding.found < recall.embedding.planted * 0.98) throw new BenchFailure(`duplicates ${size}: found ${recall.embedding.found} of ${recall.embedding.planted} planted embedding copies`);
      }
      // About two million pairs: enough for a stable per-pair time.
      const baseline = await allPairsEstimate(db, size, Math.min(size, Math.ceil(2e6 / size)));
      samples[size] = { embeddingMs: embedding, phashMs: phash, recall, baseline };
      await rm(db, { force: true });
    }
    return { settings: { sizes, repeat }, samples };
  },

  render(entry) {
    const rows = entry.settings.sizes.map((size) => {
      const s = entry.samples[size];
      return [
        formatNumber(size, 0),
        formatStats(stats(s.embeddingMs), { unit: 's', scale: 1 / 1000, digits: 1 }),
        `${s.recall.embedding.found} / ${s.recall.embedding.planted} (${s.recall.embedding.groups} groups)`,
        `${formatNumber(s.baseline.estimatedMs / 1000 / 60, 0)} min (${formatNumber(s.baseline.perPairNs, 0)} ns a pair)`,
        formatStats(stats(s.phashMs), { unit: 's', scale: 1 / 1000, digits: 1 }),
        `${s.recall.phash.found} / ${s.recall.phash.planted}`,
      ];
    });
    return [
      `Each time is the wall time of \`imgpipe duplicates --by embedding\` (or \`--by phash\`) \`--format json\` on a generated ledger, process start-up and reading the ledger included: the median of ${entry.settings.repeat} runs, [min–max] after it. ` +
        'Vectors are shaped like the embed task\'s (1280 non-negative values, unit length; unrelated pairs at cosine about 0.5), every 100th a noisy copy of the one before (cosine about 0.92); hashes are random, every 100th a copy with 2 bits flipped. ' +
        'The baseline is the exact all-pairs cosine scan in the same JavaScript, timed over about two million pairs (the first rows against all) and extrapolated to n(n-1)/2 pairs.',
      '',
      markdownTable(['Images', 'By embedding (cosine ≥ 0.9)', 'Planted copies found', 'All-pairs scan (estimated)', 'By phash (≤ 6 bits)', 'Planted copies found'], rows),
    ].join('\n');
  },
};
