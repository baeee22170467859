import type { TaskMeta } from '../contract.js';

const embed: TaskMeta = {
  name: 'embed',
  version: 1,
  description: 'image embedding (MobileNetV2 from nsfwjs, layer flatten_1): a 1280-d unit vector stored as float32 in the ledger',
  needs: [],
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 60,
  models: ['nsfwjs-mobilenet-v2'],
  options: {},
  worker: new URL('./worker.js', import.meta.url),
};

export default embed;
