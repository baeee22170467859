import type { TaskMeta } from '../contract.js';

const objects: TaskMeta = {
  name: 'objects',
  version: 1,
  description: 'COCO object detection (CenterNet): class names, scores and boxes in upright original pixels',
  needs: [],
  // One worker per thread of the budget: TensorFlow.js on WebAssembly runs one thread per worker in
  // Node, so workers are the only way to use the cores. BENCHMARKS.md, suite concurrency: 2 workers
  // beat 1 by 1.67x at the steady rate on 2 cores; an extra worker costs about 135 MB, so one per
  // core stays affordable on 16 cores (derived, not measured there).
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 120,
  models: ['human-centernet'],
  options: {
    'min-score': {
      type: 'number',
      default: 0.3,
      min: 0,
      max: 1,
      description: 'keep detections from this score (CenterNet scores true people at 0.3 to 0.7)',
    },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default objects;
