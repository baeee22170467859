/**
 * ONNX models, run by onnxruntime-node on the CPU. One session per worker thread, created on
 * first use and reused for every image; its intra-op threads are the worker's share of the
 * run's `--threads` budget, so that pools together never oversubscribe the cores.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';

type Ort = typeof import('onnxruntime-node');
let runtime: Promise<Ort> | undefined;

/** The runtime's module, loaded on first use (it is a native add-on of some 30 MB). */
export function loadOrt(): Promise<Ort> {
  runtime ??= import('onnxruntime-node').then((module) => (module as Ort & { default?: Ort }).default ?? module);
  return runtime;
}

export type { InferenceSession, Tensor };

/** A session for `model` (a file path or the model's bytes) using `threads` native threads. */
export async function loadOnnxSession(model: string | Uint8Array, threads: number): Promise<InferenceSession> {
  const ort = await loadOrt();
  const options: InferenceSession.SessionOptions = {
    intraOpNumThreads: Math.max(1, threads),
    // One image at a time per worker: parallelism across images comes from the pool.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // The CPU arena keeps every peak allocation for reuse: IS-Net at 1024x1024 grew a worker to
    // 2 GB with it and stays near 270 MB without, for one image at a time.
    enableCpuMemArena: false,
    enableMemPattern: false,
    // Fatal only: onnxruntime otherwise writes its own coloured lines to stderr for an error it
    // also throws (a node failing on an image), which the job reports anyway, one line, with its
    // code; stray lines would break a JSON log on stderr and `--json`'s quiet stderr.
    logSeverityLevel: 4,
  };
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/** What a session says about one of its inputs or outputs: for validating a model card against it. */
export interface TensorInfo {
  name: string;
  type: string;
  /** Dimensions; a string or -1 is a free (symbolic) dimension. */
  shape: (number | string)[];
}

export function describeTensors(metadata: readonly InferenceSession.ValueMetadata[]): TensorInfo[] {
  return metadata.map((value) =>
    value.isTensor ? { name: value.name, type: value.type, shape: [...value.shape] } : { name: value.name, type: 'non-tensor', shape: [] },
  );
}
