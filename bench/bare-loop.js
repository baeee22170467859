/**
 * The engine suite's baseline: the same task work as `imgpipe run`, with none of its
 * bookkeeping (no ledger, no scheduler, no per-image stat or plan). One piscina pool on
 * imgpipe's own worker entry (dist/pipeline/worker.js), fed a file list, keeping 2x threads
 * jobs in flight (--in-flight changes that, for experiments).
 *
 *   node bench/bare-loop.js --corpus DIR --out DIR --threads N [--task meta | --model-card FILE]
 *                           [--in-flight K] [--worker-threads T] [--option KEY=VALUE ...]
 *
 * --worker-threads (default 1) is the native threads each worker's job may use (imgpipe's
 * threadsPerJob, handed to the task as `context.threads`: onnxruntime's intra-op threads); it is
 * how the concurrency suite runs 1 worker x 2 threads, which imgpipe has no flag for.
 * Every job gets the task's option defaults, as `imgpipe run` gives them when no option flag is
 * set; --option (repeatable) overrides one, by the option's own name: `--task faces --option
 * model=fast` is what `imgpipe run --tasks faces --faces-model fast` runs. Values are converted
 * by the option's declared type (numbers, booleans) but not range-checked: imgpipe does that.
 * Tasks that need another task's results (anonymize, labels) get them with --inputs-db LEDGER: the
 * done results and vectors of every other task on the same key, read from that ledger before the
 * clock starts (as imgpipe passes them: JSON text and float32 bytes). Without it they get none.
 *
 * The files are listed (readdir, recursive) BEFORE the clock starts (the listing time is reported
 * separately as listMs). The timed part (wallMs) runs from creating the pool (threads start
 * and load the task module inside it, as in imgpipe) to the pool being destroyed. Also timed
 * from pool creation: firstDoneMs (the first reply: thread start-up, model load, one job) and
 * lastDoneMs; steadyJobsPerSecond is the rate after the first 2x threads replies (start-up
 * excluded), from that reply to the last one.
 * Prints one JSON line on stdout; exits 1 if any job failed.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { peakRssMb } from '../dist/observe/peak-memory.js';
import { Piscina } from 'piscina';

const { values } = parseArgs({
  options: {
    corpus: { type: 'string' },
    out: { type: 'string' },
    threads: { type: 'string' },
    task: { type: 'string', default: 'meta' },
    'in-flight': { type: 'string' },
    'worker-threads': { type: 'string', default: '1' },
    option: { type: 'string', multiple: true, default: [] },
    'model-card': { type: 'string' },
    'inputs-db': { type: 'string' },
  },
});
function usage(message) {
  if (message) process.stderr.write(`bare-loop: ${message}\n`);
  process.stderr.write('usage: node bench/bare-loop.js --corpus DIR --out DIR --threads N [--task meta | --model-card FILE] [--in-flight K] [--option KEY=VALUE ...]\n');
  process.exit(2);
}
if (!values.corpus || !values.out || !values.threads) usage();
const threads = Number(values.threads);
const inFlight = values['in-flight'] ? Number(values['in-flight']) : threads * 2;
const corpus = path.resolve(values.corpus);
const outDir = path.resolve(values.out);

// The task's metadata as built: its worker module and its options' defaults (what `imgpipe run`
// uses when no option flag is given).
// With --model-card, the task is the card's, and its worker gets the card as imgpipe passes it.
const task = values['model-card']
  ? await (async () => {
      const { readModelCard } = await import(new URL('../dist/tasks/custom/card.js', import.meta.url).href);
      const { cardTask } = await import(new URL('../dist/tasks/custom/meta.js', import.meta.url).href);
      return cardTask(readModelCard(values['model-card'], new Set()));
    })()
  : (await import(new URL(`../dist/tasks/${values.task}/meta.js`, import.meta.url).href)).default;
const options = Object.fromEntries(Object.entries(task.options).map(([name, spec]) => [name, spec.default]));
for (const pair of values.option) {
  const eq = pair.indexOf('=');
  const name = eq > 0 ? pair.slice(0, eq) : '';
  const spec = task.options[name];
  if (!spec) usage(`--option ${JSON.stringify(pair)}: expected KEY=VALUE with KEY one of ${Object.keys(task.options).join(', ') || '(none: this task has no options)'}`);
  const raw = pair.slice(eq + 1);
  let value = raw;
  if (spec.type === 'number' || spec.type === 'integer') value = Number(raw);
  else if (spec.type === 'boolean') value = raw === 'true' || raw === '1' || raw === 'yes';
  else if (spec.type === 'enum' && !spec.values.includes(raw)) usage(`--option ${name}: expected one of ${spec.values.join(', ')}, got ${JSON.stringify(raw)}`);
  if (typeof value === 'number' && !Number.isFinite(value)) usage(`--option ${name}: expected a number, got ${JSON.stringify(raw)}`);
  options[name] = value;
}
const moduleUrl = task.worker.href;
const workerEntry = new URL('../dist/pipeline/worker.js', import.meta.url).href;
const { DEFAULT_MAX_PIXELS } = await import(new URL('../dist/runtime/limits.js', import.meta.url).href);

const listStarted = performance.now();
const IMAGE = /\.(jpg|jpeg|png|webp|avif|gif|tif|tiff|heic|heif)$/i;
const files = readdirSync(corpus, { recursive: true, withFileTypes: true })
  .filter((entry) => entry.isFile() && IMAGE.test(entry.name))
  .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
const listMs = performance.now() - listStarted;

/** Prerequisite results per key, from a finished ledger: { inputs: {task: json}, vectors: {task: bytes} }. */
const prerequisites = new Map();
if (values['inputs-db']) {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(values['inputs-db'], { readonly: true, fileMustExist: true });
  const rows = db.prepare("SELECT i.key, j.task, j.result, j.vector FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'done' AND j.task <> ?").all(task.name);
  db.close();
  for (const row of rows) {
    const entry = prerequisites.get(row.key) ?? { inputs: {}, vectors: {} };
    if ([...task.needs, ...(task.uses ?? [])].includes(row.task)) {
      entry.inputs[row.task] = row.result;
      if (row.vector) entry.vectors[row.task] = new Uint8Array(row.vector);
    }
    prerequisites.set(row.key, entry);
  }
}

const started = performance.now();
const loopBefore = performance.eventLoopUtilization();
const pool = new Piscina({
  filename: workerEntry,
  minThreads: threads,
  maxThreads: threads,
  idleTimeout: 30_000,
  concurrentTasksPerWorker: 1,
  workerData: { threads: Number(values['worker-threads']), maxPixels: DEFAULT_MAX_PIXELS, config: task.workerConfig },
});
let next = 0;
let done = 0;
let failed = 0;
let firstFailure;
/** Reply times, ms from pool creation. */
const replies = [];
const lane = async () => {
  while (next < files.length) {
    const file = files[next++];
    const key = path.relative(corpus, file).split(path.sep).join('/');
    const given = prerequisites.get(key) ?? { inputs: {}, vectors: {} };
    const reply = await pool.run({ task: task.name, module: moduleUrl, key, path: file, options, inputs: given.inputs, vectors: given.vectors, outDir });
    replies.push(performance.now() - started);
    if (reply.ok) done += 1;
    else {
      failed += 1;
      firstFailure ??= `${key}: ${reply.code} ${reply.message}`;
    }
  }
};
await Promise.all(Array.from({ length: inFlight }, lane));
await pool.destroy();
const wallMs = performance.now() - started;
// Main-thread busy time: what the loop itself costs, as imgpipe's summary reports its own.
const mainThreadBusyMs = performance.eventLoopUtilization(loopBefore).active;
const warm = threads * 2;
const steadyJobsPerSecond =
  replies.length > warm + 1 ? (replies.length - 1 - warm) / ((replies[replies.length - 1] - replies[warm]) / 1000) : null;

process.stdout.write(
  `${JSON.stringify({
    event: 'bare-summary',
    task: task.name,
    threads,
    workerThreads: Number(values['worker-threads']),
    inFlight,
    files: files.length,
    done,
    failed,
    firstFailure,
    options,
    listMs,
    wallMs,
    mainThreadBusyMs,
    jobsPerSecond: (done + failed) / (wallMs / 1000),
    firstDoneMs: replies[0] ?? null,
    lastDoneMs: replies[replies.length - 1] ?? null,
    steadyJobsPerSecond,
    maxRssMb: peakRssMb(),
  })}\n`,
);
process.exitCode = failed > 0 ? 1 : 0;
