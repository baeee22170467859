import type { TaskMeta } from '../contract.js';
import { FACE_MODELS, type FaceModel } from '../../runtime/face-models.js';

const faces: TaskMeta = {
  name: 'faces',
  version: 2,
  description: 'face detection: boxes in upright original pixels, scores, count, landmarks with the fast model (SSD MobileNetV1 or BlazeFace)',
  needs: [],
  // One worker per thread of the budget: TensorFlow.js on WebAssembly runs one thread per worker in
  // Node, so workers are the only way to use the cores. BENCHMARKS.md, suite concurrency: 2 workers
  // beat 1 by 1.77x at the steady rate on 2 cores (the accurate model); an extra worker costs about
  // 275 MB, so one per core stays affordable on 16 cores (derived, not measured there).
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 120,
  // Only the detector --faces-model picks loads: a damaged other one must not stop the run.
  models: (options) => [FACE_MODELS[options.model as FaceModel]],
  options: {
    model: {
      type: 'enum',
      values: Object.keys(FACE_MODELS),
      default: 'accurate',
      description: 'accurate: SSD MobileNetV1 (best recall); fast: BlazeFace (much quicker, with 6 landmarks; misses large close-up faces)',
    },
    'min-score': { type: 'number', default: 0.5, min: 0, max: 1, description: 'a detection counts as a face from this score' },
    'max-side': {
      type: 'integer',
      default: 1024,
      min: 128,
      max: 8192,
      description: 'the image is decoded at most this large for detection (the models look at 512 px, accurate, or 256 px, fast)',
    },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default faces;
