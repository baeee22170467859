/** Messages between the scheduler and its worker threads: plain, structured-cloneable data. */
import type { ErrorCode } from '../errors.js';
import type { TaskOptions } from '../tasks/contract.js';
import type { InputIdentity } from './types.js';

export interface WorkerRequest {
  /** Numbers the pool's jobs, for the worker's WarmStart. */
  job: number;
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

/**
 * Posted by a worker (on its parentPort; piscina hands it on as a 'message' event) as it begins a
 * job on a thread where the task has returned a result before: the task is loaded and warmed up,
 * and the job's own time limit counts from here. Without it, a job also has the load allowance.
 */
export interface WarmStart {
  warmStart: number;
}

export function isWarmStart(message: unknown): message is WarmStart {
  return typeof message === 'object' && message !== null && typeof (message as WarmStart).warmStart === 'number';
}

export interface WorkerData {
  /** Native threads each job may use. */
  threads: number;
  /** --max-pixels: images with more are refused before decoding. */
  maxPixels: number;
  /** The task's `workerConfig`, for its handler. */
  config?: unknown;
}
