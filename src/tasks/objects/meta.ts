import type { TaskMeta } from '../contract.js';

const objects: TaskMeta = {
  name: 'objects',
  version: 1,
  description: 'COCO object detection (CenterNet): class names, scores and boxes in upright original pixels',
  needs: [],
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
