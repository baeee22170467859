import type { TaskMeta } from '../contract.js';

const nsfw: TaskMeta = {
  name: 'nsfw',
  version: 1,
  description: 'NSFW classification (MobileNetV2 from nsfwjs): class probabilities, an unsafe score and a verdict',
  needs: [],
  // One worker per thread of the budget: TensorFlow.js on WebAssembly runs one thread per worker in
  // Node, so workers are the only way to use the cores. BENCHMARKS.md, suite concurrency: 2 workers
  // beat 1 by 1.53x at the steady rate on 2 cores; an extra worker costs about 130 MB, so one per
  // core stays affordable on 16 cores (derived, not measured there).
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 60,
  models: ['nsfwjs-mobilenet-v2'],
  flags: true,
  options: {
    threshold: {
      type: 'number',
      default: 0.6,
      min: 0,
      max: 1,
      description: 'unsafe score (porn + hentai + sexy) from which an image is flagged',
    },
    'review-threshold': {
      type: 'number',
      default: 0.3,
      min: 0,
      max: 1,
      description: 'unsafe score from which an unflagged image gets the verdict "review"',
    },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default nsfw;
