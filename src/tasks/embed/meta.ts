import type { TaskMeta } from '../contract.js';

const embed: TaskMeta = {
  name: 'embed',
  version: 1,
  description: 'image embedding (MobileNetV2 from nsfwjs, layer flatten_1): a 1280-d unit vector stored as float32 in the ledger',
  needs: [],
  // One worker per thread of the budget: TensorFlow.js on WebAssembly runs one thread per worker in
  // Node, so workers are the only way to use the cores. BENCHMARKS.md, suite concurrency: 2 workers
  // and 1 were within 5 % there (0.95x, a busy machine), 1.72x in the models suite's pool table; an
  // extra worker costs about 145 MB, so one per core stays affordable on 16 cores (derived, not
  // measured there).
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 60,
  models: ['nsfwjs-mobilenet-v2'],
  options: {},
  worker: new URL('./worker.js', import.meta.url),
};

export default embed;
