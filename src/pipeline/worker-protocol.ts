/** Messages between the scheduler and its worker threads: plain, structured-cloneable data. */
import type { ErrorCode } from '../errors.js';
import type { TaskOptions } from '../tasks/contract.js';
import type { InputIdentity } from './types.js';

export interface WorkerRequest {
  task: string;
  /** URL of the task's worker module. */
  module: string;
  key: string;
  path: string;
  options: TaskOptions;
  /** Prerequisite results as the ledger holds them (JSON text): parsed here, not on the main thread. */
  inputs: Record<string, string>;
  /** Prerequisite vectors as the ledger holds them (float32 bytes), for the tasks that stored one. */
  vectors: Record<string, Uint8Array>;
  outDir: string;
}

export type WorkerReply =
  /** `result` is JSON text: serialised in the worker so that the main thread only stores it. */
  /** `vector`: float32 values, cloned (not JSON) to the main thread. */
  /** `bytesWritten`: the artefacts' total size, known only here where they are written. */
  | { ok: true; result: string; artifacts: string[]; vector?: Float32Array; input: InputIdentity; bytesWritten: number; durationMs: number }
  | { ok: false; code: ErrorCode; message: string; input?: InputIdentity; durationMs: number };

export interface WorkerData {
  /** Native threads each job may use. */
  threads: number;
  /** --max-pixels: images with more are refused before decoding. */
  maxPixels: number;
  /** The task's `workerConfig`, for its handler. */
  config?: unknown;
}
