/**
 * The scheduler with tasks written for the test: prerequisites get their inputs, a task that
 * throws fails only its own job and its dependents, a worker that exits, outgrows its heap
 * limit or hangs is replaced and the job retried, then failed with a stable code, while other
 * pools carry on.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TaskMeta } from '../src/tasks/contract.js';
import type { TaskRun } from '../src/pipeline/plan.js';
import { FIXTURES, ROOT, query, scratch, sleep } from './helpers.js';

// The built engine: its worker threads load dist/pipeline/worker.js.
const { Ledger } = (await import(path.join(ROOT, 'dist/pipeline/ledger.js'))) as typeof import('../src/pipeline/ledger.js');
const { Scheduler } = (await import(path.join(ROOT, 'dist/pipeline/scheduler.js'))) as typeof import('../src/pipeline/scheduler.js');
const { scanInputs, classifyInputs } = (await import(path.join(ROOT, 'dist/pipeline/sources.js'))) as typeof import('../src/pipeline/sources.js');

const WORKERS: Record<string, string> = {
  size: 'return async (job) => ({ result: { bytes: job.bytes.length, sha: job.sha256.slice(0, 8) } });',
  double: 'return async (job) => ({ result: { twice: job.inputs.size.bytes * 2 } });',
  throws: "return async (job) => { if (job.key.includes('red-blue')) throw new Error('boom on\\ntwo lines'); return { result: { ok: true } }; };",
  after: 'return async (job) => ({ result: { saw: job.inputs.throws } });',
  crash: "return async (job) => { if (job.key.includes('red-blue')) process.exit(3); return { result: { ok: true } }; };",
  hang: "return async (job) => { if (job.key.includes('red-blue')) await new Promise(() => setInterval(() => {}, 1000)); return { result: { ok: true } }; };",
  // Allocates without end: the worker's heap limit (HEAP_MB below) stops it, not the process.
  hog: "return async (job) => { if (job.key.includes('red-blue')) { const kept = []; for (;;) kept.push(new Array(100_000).fill(kept.length)); } return { result: { ok: true } }; };",
  vec: 'return async (job) => ({ result: { dims: 3 }, vector: Float32Array.of(0.5, -2, job.bytes.length) });',
  sum: 'return async (job) => ({ result: { float32: job.vectors.vec instanceof Float32Array, sum: job.vectors.vec.reduce((a, b) => a + b, 0), size: job.inputs.size.bytes } });',
  optional: 'return async (job) => ({ result: { saw: job.inputs.throws ?? null } });',
  // sharp's reasonless "Unknown error" once, then the real reason: the job is run again in place.
  reasonless:
    "const seen = new Set(); return async (job) => { if (job.key.includes('red-blue')) { if (!seen.has(job.key)) { seen.add(job.key); throw new Error('Unknown error'); } throw new Error('heif: Support for this compression format has not been built in: HEVC'); } return { result: { ok: true } }; };",
  // ...and when it stays reasonless, the failure stands as a decoding one.
  unknown: "return async (job) => { if (job.key.includes('red-blue')) throw new Error('Unknown error'); return { result: { ok: true } }; };",
};
const HEAP_MB: Record<string, number> = { hog: 32 };
// It hangs on its worker's first job, which also has the load allowance: kept short here.
const LOAD_TIMEOUT_SECONDS: Record<string, number> = { hang: 0.1 };
const NEEDS: Record<string, string[]> = { double: ['size'], after: ['throws'], sum: ['vec', 'size'] };
const USES: Record<string, string[]> = { optional: ['throws'] };

function taskRuns(dir: string): TaskRun[] {
  return Object.entries(WORKERS).map(([name, body]) => {
    const file = path.join(dir, `${name}.mjs`);
    writeFileSync(file, `export function createHandler() { ${body} }\n`);
    const meta: TaskMeta = {
      name,
      version: 1,
      description: name,
      needs: NEEDS[name] ?? [],
      uses: USES[name],
      concurrency: 1,
      threadsPerJob: 1,
      timeoutSeconds: 1,
      ...(HEAP_MB[name] ? { heapMb: HEAP_MB[name] } : {}),
      ...(LOAD_TIMEOUT_SECONDS[name] ? { loadTimeoutSeconds: LOAD_TIMEOUT_SECONDS[name] } : {}),
      options: {},
      worker: new URL(`file://${file}`),
    };
    return { meta, options: {}, optionsHash: 'none', concurrency: 1, threadsPerJob: 1, timeoutMs: name === 'hang' ? 500 : 10_000 };
  });
}

describe('scheduler', () => {
  it('passes prerequisite results, isolates failures per job and per pool, retries crashes and timeouts', async () => {
    const work = scratch();
    const ledger = Ledger.openForWrite(path.join(work, 'l.db'));
    ledger.acquireLock();
    const runId = ledger.startRun({ argv: [], cwd: work, tasks: Object.keys(WORKERS), shard: null, version: 'test' });
    const events: { task: string; key: string; state: string; code?: string }[] = [];
    const scheduler = new Scheduler(
      ledger,
      { runId, tasks: taskRuns(work), threads: 2, maxAttempts: 2, retryFailed: false, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: 1000, maxPixels: 1_000_000 },
      { scanned: () => {}, planned: () => {}, skipped: () => {}, warning: () => {}, job: (e) => events.push(e) },
    );
    const source = scanInputs(classifyInputs([path.join(FIXTURES, 'colours')], ROOT), { followSymlinks: false, stdin: process.stdin, onProblem: () => {} });
    const result = await scheduler.run(source);
    ledger.close();

    const rows = query<{ key: string; task: string; state: string; attempts: number; result: string | null; error_code: string | null; error_message: string | null }>(
      path.join(work, 'l.db'),
      'SELECT i.key, j.task, j.state, j.attempts, j.result, j.error_code, j.error_message FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key, j.task',
    );
    const row = (key: string, task: string) => rows.find((r) => r.key === key && r.task === task)!;
    const redBytes = JSON.parse(row('red.png', 'size').result!).bytes;
    expect(redBytes).toBeGreaterThan(50);
    expect(JSON.parse(row('red.png', 'double').result!)).toEqual({ twice: redBytes * 2 });
    expect(row('red-blue.png', 'throws')).toMatchObject({ state: 'failed', attempts: 1, error_code: 'E_TASK', error_message: 'boom on; two lines' });
    expect(row('red-blue.png', 'after')).toMatchObject({ state: 'failed', error_code: 'E_DEPENDENCY' });
    expect(row('red-blue.png', 'crash')).toMatchObject({ state: 'failed', attempts: 2, error_code: 'E_WORKER_CRASH' });
    // Its 0.5 s limit (and 0.1 s load allowance, when the try was its worker's first job) as given,
    // not rounded (a 0.1 s limit once read "0 s").
    expect(row('red-blue.png', 'hang')).toMatchObject({
      state: 'failed',
      attempts: 2,
      error_code: 'E_TIMEOUT',
      error_message: expect.stringMatching(/^no result (0\.5 s after the job started|after 0\.6 s, the time limit \(0\.5 s\) plus 0\.1 s for a new worker to start and load the task); the worker was stopped/),
    });
    expect(row('red-blue.png', 'hog')).toMatchObject({ state: 'failed', attempts: 2, error_code: 'E_WORKER_CRASH', error_message: expect.stringMatching(/memory limit.*\(after 2 attempts\)$/) });
    expect(row('red-blue.png', 'reasonless')).toMatchObject({ state: 'failed', attempts: 1, error_code: 'E_UNSUPPORTED', error_message: expect.stringMatching(/no HEVC decoder/) });
    expect(row('red-blue.png', 'unknown')).toMatchObject({ state: 'failed', attempts: 1, error_code: 'E_DECODE' });
    // The same pools went on to finish the other image.
    for (const task of Object.keys(WORKERS)) expect(row('red.png', task).state, task).toBe('done');
    expect(result.tasks.crash).toMatchObject({ done: 1, failed: 1, retries: 1 });
    expect(result.tasks.hog).toMatchObject({ done: 1, failed: 1, retries: 1 });
    expect(events.filter((e) => e.state === 'retry').map((e) => e.code).sort()).toEqual(['E_TIMEOUT', 'E_WORKER_CRASH', 'E_WORKER_CRASH']);

    // A vector is stored as float32 bytes and reaches the tasks that need it as a Float32Array.
    const vectors = query<{ key: string; vector: Buffer | null; result: string }>(path.join(work, 'l.db'), "SELECT i.key, j.vector, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'vec'");
    for (const { key, vector } of vectors) {
      const bytes = JSON.parse(row(key, 'size').result!).bytes as number;
      expect([...new Float32Array(new Uint8Array(vector!).buffer)]).toEqual([0.5, -2, bytes]);
      expect(JSON.parse(row(key, 'sum').result!)).toEqual({ float32: true, sum: bytes - 1.5, size: bytes });
    }
    expect(query(path.join(work, 'l.db'), "SELECT count(*) AS n FROM jobs WHERE vector IS NOT NULL AND task <> 'vec'")).toEqual([{ n: 0 }]);
    // An optional input waits for its task, is passed when done, and its failure fails nothing.
    expect(JSON.parse(row('red.png', 'optional').result!)).toEqual({ saw: { ok: true } });
    expect(row('red-blue.png', 'optional')).toMatchObject({ state: 'done', result: JSON.stringify({ saw: null }) });
  });

  it('a task of whole-thread jobs is not starved by one of half-thread jobs that fills each freed half; the scan\'s end is told at once', async () => {
    const work = scratch();
    const images = path.join(work, 'in');
    mkdirSync(images);
    for (let i = 0; i < 24; i += 1) copyFileSync(path.join(FIXTURES, 'colours', 'red.png'), path.join(images, `${String(i).padStart(2, '0')}.png`));
    const file = path.join(work, 'slow.mjs');
    writeFileSync(file, 'export function createHandler() { return async () => { await new Promise((r) => setTimeout(r, 20)); return { result: {} }; }; }\n');
    const task = (name: string, threadsPerJob: number, concurrency: number): TaskRun => ({
      meta: { name, version: 1, description: name, needs: [], concurrency, threadsPerJob, timeoutSeconds: 10, options: {}, worker: new URL(`file://${file}`) },
      options: {},
      optionsHash: 'none',
      concurrency,
      threadsPerJob,
      timeoutMs: 10_000,
    });
    const ledger = Ledger.openForWrite(path.join(work, 'l.db'));
    ledger.acquireLock();
    const runId = ledger.startRun({ argv: [], cwd: work, tasks: ['whole', 'half'], shard: null, version: 'test' });
    const done: string[] = [];
    let doneWhenScanFinished: number | undefined;
    const scheduler = new Scheduler(
      ledger,
      { runId, tasks: [task('whole', 1, 1), task('half', 0.5, 2)], threads: 1, maxAttempts: 1, retryFailed: false, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: 1000, maxPixels: 1_000_000 },
      {
        scanned: (_images, finished) => {
          if (finished) doneWhenScanFinished ??= done.length;
        },
        planned: () => {},
        skipped: () => {},
        warning: () => {},
        job: (e) => done.push(e.task),
      },
    );
    await scheduler.run(scanInputs(classifyInputs([images], ROOT), { followSymlinks: false, stdin: process.stdin, onProblem: () => {} }));
    ledger.close();
    expect(done.length).toBe(48);
    // Both tasks advance together: by the time half the jobs are done, each has done about half
    // of its own (starved, 'whole' would have done 1 of 24).
    const firstHalf = done.slice(0, 24);
    expect(firstHalf.filter((t) => t === 'whole').length).toBeGreaterThanOrEqual(6);
    expect(firstHalf.filter((t) => t === 'half').length).toBeGreaterThanOrEqual(6);
    // The scan's end is told when it happens (progress drops its "+"), not when the run ends.
    expect(doneWhenScanFinished).toBeLessThan(10);
  });
});

/** Runs the given tasks (handler bodies) over fixtures/colours with a fresh ledger; returns its job rows and the events. */
async function runWorkers(
  workers: Record<string, string>,
  settings: { maxAttempts?: number; timeoutMs?: number; loadTimeoutSeconds?: number; graceMs?: number; stopAfterMs?: number; concurrency?: number } = {},
): Promise<{ rows: { key: string; task: string; state: string; attempts: number; result: string | null; error_code: string | null; error_message: string | null }[]; events: { task: string; state: string; code?: string; message?: string }[]; elapsedMs: number }> {
  const work = scratch();
  const tasks = Object.entries(workers).map(([name, body]): TaskRun => {
    const file = path.join(work, `${name}.mjs`);
    writeFileSync(file, `export async function createHandler() { ${body} }\n`);
    const concurrency = settings.concurrency ?? 1;
    const meta: TaskMeta = {
      name, version: 1, description: name, needs: [], concurrency, threadsPerJob: 1, timeoutSeconds: 10, options: {}, worker: new URL(`file://${file}`),
      ...(settings.loadTimeoutSeconds !== undefined ? { loadTimeoutSeconds: settings.loadTimeoutSeconds } : {}),
    };
    return { meta, options: {}, optionsHash: 'none', concurrency, threadsPerJob: 1, timeoutMs: settings.timeoutMs ?? 10_000 };
  });
  const ledger = Ledger.openForWrite(path.join(work, 'l.db'));
  ledger.acquireLock();
  const runId = ledger.startRun({ argv: [], cwd: work, tasks: Object.keys(workers), shard: null, version: 'test' });
  const events: { task: string; state: string; code?: string; message?: string }[] = [];
  const scheduler = new Scheduler(
    ledger,
    { runId, tasks, threads: 2, maxAttempts: settings.maxAttempts ?? 2, retryFailed: false, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: settings.graceMs ?? 1000, maxPixels: 1_000_000 },
    { scanned: () => {}, planned: () => {}, skipped: () => {}, warning: () => {}, job: (e) => events.push(e) },
  );
  if (settings.stopAfterMs !== undefined) setTimeout(() => scheduler.stop(), settings.stopAfterMs);
  const started = performance.now();
  await scheduler.run(scanInputs(classifyInputs([path.join(FIXTURES, 'colours')], ROOT), { followSymlinks: false, stdin: process.stdin, onProblem: () => {} }));
  ledger.close();
  const rows = query<{ key: string; task: string; state: string; attempts: number; result: string | null; error_code: string | null; error_message: string | null }>(
    path.join(work, 'l.db'),
    'SELECT i.key, j.task, j.state, j.attempts, j.result, j.error_code, j.error_message FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key, j.task',
  );
  return { rows, events, elapsedMs: performance.now() - started };
}

describe('what a task hands back', () => {
  it('a result JSON cannot represent (a function, a symbol, over 512 MB of text), or artefacts that are not paths, fail the job once as E_TASK: never done without a result, never a worker crash retried', async () => {
    const { rows, events } = await runWorkers({
      fn: 'return async () => ({ result: () => 1 });',
      sym: "return async () => ({ result: Symbol('s') });",
      arts: 'return async () => ({ result: {}, artifacts: [{ path: () => 1 }] });',
      // Over 512 MB of JSON, more than a JavaScript string holds: the task's result, not the image, is at fault.
      huge: "return async (job) => ({ result: job.key === 'red.png' ? Array(60).fill('x'.repeat(10_000_000)) : 'x' });",
    });
    expect(rows.find((r) => r.task === 'huge' && r.key === 'red-blue.png')).toMatchObject({ state: 'done', result: '"x"' });
    expect(rows.find((r) => r.task === 'huge' && r.key === 'red.png')).toMatchObject({ state: 'failed', attempts: 1, error_code: 'E_TASK', error_message: expect.stringMatching(/result cannot be recorded as JSON: Invalid string length/) });
    rows.splice(rows.findIndex((r) => r.task === 'huge' && r.key === 'red-blue.png'), 1);
    expect(rows).toHaveLength(7);
    for (const row of rows) expect(row, `${row.task} ${row.key}`).toMatchObject({ state: 'failed', attempts: 1, error_code: 'E_TASK', result: null });
    expect(rows.find((r) => r.task === 'fn')!.error_message).toMatch(/result .*JSON/);
    expect(rows.find((r) => r.task === 'arts')!.error_message).toMatch(/artefact/);
    expect(events.filter((e) => e.state === 'retry')).toEqual([]);
  });
});

describe('time limits', () => {
  // The files of fixtures/colours: the test needs two, each the only job of its pool's thread at a time.
  const IMAGES = 2;

  it('a job\'s limit does not count its worker\'s start-up and load: a load of 2 s under a 0.5 s limit fails nothing', async () => {
    // The load stands for a model's (nsfw: 1.2 s on 2 busy cores); the jobs then read the real
    // bytes of the image. Counted in the limit, the load failed every job, each try on a new worker.
    const { rows, events } = await runWorkers(
      { slowload: "await new Promise((r) => setTimeout(r, 2000)); return async (job) => ({ result: { bytes: job.bytes.length, sha: job.sha256.slice(0, 8) } });" },
      { timeoutMs: 500, maxAttempts: 1 },
    );
    expect(rows).toHaveLength(IMAGES);
    for (const row of rows) expect(row, row.key).toMatchObject({ state: 'done', attempts: 1, error_code: null });
    expect(JSON.parse(rows[0]!.result!).bytes).toBeGreaterThan(50);
    expect(events.filter((e) => e.state !== 'done')).toEqual([]);
  });

  it('a job on a warm worker has its plain limit: a hang there is stopped after it, not after the load allowance too', async () => {
    // Each worker hangs on its second job; the job is retried on a new worker, where it is the first.
    const { rows, events, elapsedMs } = await runWorkers(
      { second: 'let jobs = 0; return async (job) => { jobs += 1; if (jobs > 1) await new Promise(() => setInterval(() => {}, 1000)); return { result: { bytes: job.bytes.length } }; };' },
      { timeoutMs: 300, loadTimeoutSeconds: 60, maxAttempts: 2 },
    );
    expect(rows.map((r) => r.state)).toEqual(['done', 'done']);
    expect(rows.map((r) => r.attempts).sort()).toEqual([1, 2]);
    // The limit as given, from the job's start.
    expect(events.filter((e) => e.state === 'retry')).toEqual([expect.objectContaining({ code: 'E_TIMEOUT', message: 'no result 0.3 s after the job started; the worker was stopped' })]);
    expect(elapsedMs).toBeLessThan(30_000);
  });

  it('a worker that hangs while it loads the task is stopped after the limit and the load allowance: the job fails E_TIMEOUT, saying so', async () => {
    const { rows, events } = await runWorkers(
      { loadhang: 'await new Promise(() => setInterval(() => {}, 1000)); return async () => ({ result: {} });' },
      { timeoutMs: 200, loadTimeoutSeconds: 0.5, maxAttempts: 2 },
    );
    expect(rows).toHaveLength(IMAGES);
    for (const row of rows) {
      expect(row, row.key).toMatchObject({ state: 'failed', attempts: 2, error_code: 'E_TIMEOUT', error_message: 'no result after 0.7 s, the time limit (0.2 s) plus 0.5 s for a new worker to start and load the task; the worker was stopped (after 2 attempts)' });
    }
    expect(events.filter((e) => e.state === 'retry').map((e) => e.code)).toEqual(['E_TIMEOUT', 'E_TIMEOUT']);
  });
});

describe('a stop while a job runs', () => {
  it('a try that times out in the grace period goes back to pending with its attempt counted, not failed: its other attempts are the next run\'s', async () => {
    const { rows, events } = await runWorkers(
      { hang: 'return async () => { await new Promise(() => setInterval(() => {}, 1000)); };' },
      { maxAttempts: 3, timeoutMs: 700, loadTimeoutSeconds: 0.1, graceMs: 5000, stopAfterMs: 300 },
    );
    expect(rows.map((r) => r.state)).toEqual(['pending', 'pending']);
    expect(rows.map((r) => r.attempts).sort()).toEqual([0, 1]);
    expect(rows.find((r) => r.attempts === 1)).toMatchObject({ error_code: 'E_TIMEOUT' });
    expect(events.map((e) => `${e.state} ${e.code}`)).toEqual(['retry E_TIMEOUT']);
  });
});

describe('a stop while the scan hashes a file', () => {
  it('once run() has returned (and the caller closes the ledger), an image whose hash was still being read writes nothing', async () => {
    const work = scratch();
    const file = path.join(work, 'size.mjs');
    writeFileSync(file, `export function createHandler() { ${WORKERS.size} }\n`);
    const task: TaskRun = {
      meta: { name: 'size', version: 1, description: 'size', needs: [], concurrency: 1, threadsPerJob: 1, timeoutSeconds: 10, options: {}, worker: new URL(`file://${file}`) },
      options: {}, optionsHash: 'none', concurrency: 1, threadsPerJob: 1, timeoutMs: 10_000,
    };
    const images = ['red.png', 'red-blue.png'].map((name) => {
      const copy = path.join(work, name);
      copyFileSync(path.join(FIXTURES, 'colours', name), copy);
      return { key: name, path: copy, size: statSync(copy).size, mtimeMs: statSync(copy).mtimeMs };
    });
    const ledger = Ledger.openForWrite(path.join(work, 'l.db'));
    ledger.acquireLock();
    const settings = (runId: number) => ({ runId, tasks: [task], threads: 1, maxAttempts: 1, retryFailed: false, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: 1000, maxPixels: 1_000_000 });
    const quiet = { scanned: () => {}, planned: () => {}, skipped: () => {}, warning: () => {}, job: () => {} };
    const first = ledger.startRun({ argv: [], cwd: work, tasks: ['size'], shard: null, version: 'test' });
    await new Scheduler(ledger, settings(first), quiet).run((async function* () { yield* images; })());

    // Both files seem touched (another mtime), so their hashes are read to see whether the results
    // still hold; the second "file" is a FIFO, whose read lasts until the test writes to it.
    const fifo = path.join(work, 'slow');
    execFileSync('mkfifo', [fifo]);
    const touched = [{ ...images[0]!, mtimeMs: images[0]!.mtimeMs + 1000 }, { ...images[1]!, path: fifo, mtimeMs: images[1]!.mtimeMs + 1000 }];
    const second = ledger.startRun({ argv: [], cwd: work, tasks: ['size'], shard: null, version: 'test' });
    let returned = false;
    const late: string[] = [];
    for (const method of ['writeJob', 'setImageSha', 'refreshJobIdentity'] as const) {
      const original = ledger[method].bind(ledger) as (...args: unknown[]) => void;
      (ledger as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        if (returned) late.push(method);
        original(...args);
      };
    }
    // Stopped once the first is planned and the second's hash is being read.
    const scheduler = new Scheduler(ledger, settings(second), { ...quiet, skipped: () => setTimeout(() => scheduler.stop(), 200) });
    const result = await scheduler.run((async function* () { yield* touched; })());
    returned = true;
    expect(result.interrupted).toBe(true);
    await writeFile(fifo, 'not the same bytes');
    await sleep(300);
    ledger.close();
    expect(late).toEqual([]);
  });
});

describe('a job failed for its prerequisite', () => {
  it('runs once the prerequisite is done (retried in a run of its own), without --retry-failed: its failure was never its own', async () => {
    const work = scratch();
    const ledger = Ledger.openForWrite(path.join(work, 'l.db'));
    ledger.acquireLock();
    const make = (name: string, body: string, needs: string[] = []): TaskRun => {
      const file = path.join(work, `${name}.mjs`);
      writeFileSync(file, `export function createHandler() { ${body} }\n`);
      return {
        meta: { name, version: 1, description: name, needs, concurrency: 1, threadsPerJob: 1, timeoutSeconds: 10, options: {}, worker: new URL(`file://${file}`) },
        options: {}, optionsHash: 'none', concurrency: 1, threadsPerJob: 1, timeoutMs: 10_000,
      };
    };
    const run = async (tasks: TaskRun[], retryFailed: boolean) => {
      const runId = ledger.startRun({ argv: [], cwd: work, tasks: tasks.map((t) => t.meta.name), shard: null, version: 'test' });
      const scheduler = new Scheduler(
        ledger,
        { runId, tasks, threads: 1, maxAttempts: 1, retryFailed, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: 1000, maxPixels: 1_000_000 },
        { scanned: () => {}, planned: () => {}, skipped: () => {}, warning: () => {}, job: () => {} },
      );
      const result = await scheduler.run(scanInputs(classifyInputs([path.join(FIXTURES, 'colours')], ROOT), { followSymlinks: false, stdin: process.stdin, onProblem: () => {} }));
      ledger.flush();
      return result.tasks;
    };
    const states = () => query<{ key: string; task: string; state: string; error_code: string | null }>(path.join(work, 'l.db'), 'SELECT i.key, j.task, j.state, j.error_code FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key, j.task');
    const after = make('after', 'return async (job) => ({ result: { saw: job.inputs.flaky } });', ['flaky']);

    // A prerequisite that fails on one image (a transient fault, a time limit too short)...
    await run([make('flaky', "return async (job) => { if (job.key === 'red-blue.png') throw new Error('not this time'); return { result: 1 }; };"), after], false);
    expect(states().filter((r) => r.key === 'red-blue.png')).toEqual([
      { key: 'red-blue.png', task: 'after', state: 'failed', error_code: 'E_DEPENDENCY' },
      { key: 'red-blue.png', task: 'flaky', state: 'failed', error_code: 'E_TASK' },
    ]);
    // ...retried alone, and done...
    const flaky = make('flaky', 'return async () => ({ result: 2 });');
    expect((await run([flaky], true)).flaky).toMatchObject({ done: 1, alreadyDone: 1 });
    // ...lets the job that waited for it run, in the next run that includes it.
    expect((await run([flaky, after], false)).after).toMatchObject({ done: 1, alreadyDone: 1, alreadyFailed: 0 });
    ledger.close();
    expect(states().filter((r) => r.key === 'red-blue.png')).toEqual([
      { key: 'red-blue.png', task: 'after', state: 'done', error_code: null },
      { key: 'red-blue.png', task: 'flaky', state: 'done', error_code: null },
    ]);
    expect(query(path.join(work, 'l.db'), "SELECT j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.key = 'red-blue.png' AND j.task = 'after'")).toEqual([{ result: JSON.stringify({ saw: 2 }) }]);
  });
});
