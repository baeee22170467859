/**
 * The entry point of every pool's worker threads. It reads the image once, hashes the bytes
 * it read (so a result is tied to exactly the content it came from), runs the task's handler
 * and turns any failure into a stable code. Handlers are created once per thread and reused.
 */
// First, before the modules below load (sharp's loading alone grows the young generation).
import '../runtime/young-generation.js';
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { TaskError, type Handler, type JobInput, type TaskWorkerModule } from '../tasks/contract.js';
import { createArtifactWriter, type InputFile } from '../runtime/artifacts.js';
import { signatureOf } from '../runtime/image.js';
import { classifyError, isReasonless } from '../runtime/failure.js';
import { messageOf } from '../errors.js';
import { setMaxPixels } from '../runtime/limits.js';
import type { InputIdentity } from './types.js';
import { vectorOf } from './vectors.js';
import type { WarmStart, WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

const handlers = new Map<string, Promise<Handler>>();
/**
 * Task modules whose handler has returned a result on this thread: loaded, and warmed up. Not
 * merely created: tasks may load their models on the first job (faces picks its detector from the
 * job's options), and a first inference costs more than the next (faces: 1.4 s, then 0.45 s). Nor
 * a job that failed: it may have failed before the load (a file that does not decode).
 */
const warm = new Set<string>();
setMaxPixels((workerData as WorkerData).maxPixels);

function handlerFor(request: WorkerRequest): Promise<Handler> {
  let handler = handlers.get(request.module);
  if (!handler) {
    const { threads, config } = workerData as WorkerData;
    handler = import(request.module).then((module: TaskWorkerModule) => module.createHandler({ task: request.task, threads, config }));
    handlers.set(request.module, handler);
  }
  return handler;
}

/** Larger files are read only once their first bytes name an image format (see readInput). */
const SNIFF_ABOVE_BYTES = 16 * 1024 * 1024;
/** The most Node reads into one buffer. */
const MAX_FILE_BYTES = 2 ** 31 - 1;

/**
 * Reads through one descriptor so that the stat and the bytes describe the same file. A large
 * file is read whole only if its first bytes name a format this build decodes: a 1.5 GB junk
 * file named .jpg would otherwise cost its size in memory to fail as E_DECODE. Smaller files
 * are read and left to the decoder, which gives the precise reason. The device and inode let the
 * artefact writer refuse to replace the input.
 *
 * Blocking calls, on purpose: a worker thread runs one job at a time and has nothing else to do
 * while it reads. Asynchronous ones would queue on libuv's four threads, behind the images that
 * sharp decodes there for every worker: 0.80x bare sharp on small images, against 0.87x so.
 */
function readInput(file: string): { bytes: Buffer; input: InputIdentity; file: InputFile } {
  const fd = openSync(file, 'r');
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new TaskError('E_READ', 'not a regular file');
    if (stats.size > SNIFF_ABOVE_BYTES) {
      const buffer = Buffer.alloc(4096);
      const bytesRead = readSync(fd, buffer, 0, buffer.length, 0);
      const format = signatureOf(buffer.subarray(0, bytesRead));
      if (format === undefined) {
        throw new TaskError('E_DECODE', `not an image: the first bytes of this ${megabytes(stats.size)} file match no format this build decodes (JPEG, PNG, WebP, GIF, TIFF, AVIF/HEIF); it was not read further`);
      }
      if (stats.size > MAX_FILE_BYTES) {
        throw new TaskError('E_TOO_LARGE', `the ${format.toUpperCase()} file is ${megabytes(stats.size)}: imgpipe reads an image whole, up to 2 GiB`);
      }
    }
    const bytes = readFileSync(fd);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return { bytes, input: { size: stats.size, mtimeMs: stats.mtimeMs, sha256 }, file: { path: file, dev: stats.dev, ino: stats.ino } };
  } finally {
    closeSync(fd);
  }
}

/**
 * A handler's vector, checked (a non-finite value is the task's bug, not the image's), as a
 * Float32Array that owns its whole buffer: structured clone copies a view's entire buffer, and a
 * vector may be a view into a model's output. It goes back by clone, not transfer: a few KB at
 * most, copied in microseconds, and it spares every worker thread loading piscina's main module
 * (20-30 ms) to transfer it.
 */
function checkedVector(vector: Float32Array | undefined): Float32Array | undefined {
  if (vector === undefined) return undefined;
  if (!(vector instanceof Float32Array)) throw new Error('the task returned a vector that is not a Float32Array');
  if (!vector.every(Number.isFinite)) throw new Error('the task returned a vector with non-finite values');
  return vector.byteOffset === 0 && vector.byteLength === vector.buffer.byteLength ? vector : vector.slice();
}

/**
 * The result as JSON text. A function or a symbol serialises to nothing at all (undefined, not
 * text), which the ledger would keep as a done job without a result: the task's bug, said so.
 */
function resultJson(result: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(result ?? null) as string | undefined;
  } catch (error) {
    // E_TASK by name: V8's "Invalid string length" (a result over 512 MB) reads like a decoding failure.
    throw new TaskError('E_TASK', `the task's result cannot be recorded as JSON: ${messageOf(error)}`);
  }
  if (json === undefined) throw new TaskError('E_TASK', `the task returned a result that JSON cannot represent (a ${typeof result})`);
  return json;
}

/**
 * The artefacts' paths, as the writer returned them. Anything else would fail to be cloned back to
 * the main thread, which takes that for a worker that died, and retries the job.
 */
function checkedArtifacts(artifacts: readonly string[] | undefined): string[] {
  const list = [...(artifacts ?? [])];
  if (list.some((artifact) => typeof artifact !== 'string')) throw new TaskError('E_TASK', 'the task returned artefacts that are not paths (strings from the artefact writer)');
  return list;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

/** Milliseconds to a tenth: finer is noise, and it keeps exports readable. */
function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

export default async function runJob(request: WorkerRequest): Promise<WorkerReply> {
  const started = performance.now();
  let input: InputIdentity | undefined;
  let bytesWritten = 0;
  // A few microseconds a job: the pool then holds this job to its plain time limit (see pools.ts).
  if (warm.has(request.module)) parentPort?.postMessage({ warmStart: request.job } satisfies WarmStart);
  try {
    const read = readInput(request.path);
    input = read.input;
    const handler = await handlerFor(request);
    const inputs: Record<string, unknown> = {};
    for (const [task, json] of Object.entries(request.inputs)) inputs[task] = JSON.parse(json);
    const vectors: Record<string, Float32Array> = {};
    for (const [task, bytes] of Object.entries(request.vectors)) vectors[task] = vectorOf(bytes);
    const job: JobInput = {
      key: request.key,
      path: request.path,
      bytes: read.bytes,
      sha256: read.input.sha256,
      options: request.options,
      inputs,
      vectors,
      artifacts: createArtifactWriter(request.outDir, request.task, request.key, read.file, (bytes) => (bytesWritten += bytes)),
    };
    // A reasonless libvips failure is tried once more, so that the item is recorded with its
    // real reason (a missing HEVC decoder is E_UNSUPPORTED, not a corrupt file): seen on the
    // hostile corpus's HEIC with four preprocess workers. A second one stands as E_DECODE.
    const output = await handler(job).catch((error: unknown) => {
      if (isReasonless(error)) return handler(job);
      throw error;
    });
    warm.add(request.module);
    const vector = checkedVector(output.vector);
    return { ok: true, result: resultJson(output.result), artifacts: checkedArtifacts(output.artifacts), ...(vector ? { vector } : {}), input, bytesWritten, durationMs: elapsed(started) };
  } catch (error) {
    return { ok: false, ...classifyError(error), input, durationMs: elapsed(started) };
  }
}
