import type { TaskMeta } from '../contract.js';

const meta: TaskMeta = {
  name: 'meta',
  version: 1,
  description: 'format, size, EXIF, sha256, perceptual hash, dominant colours, brightness, contrast, sharpness',
  needs: [],
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 60,
  options: {
    'blur-threshold': {
      type: 'number',
      default: 60,
      min: 0,
      max: 100_000,
      description: 'an image whose sharpness (variance of the Laplacian at 512 px) is below this is flagged blurry',
    },
    colours: { type: 'integer', default: 5, min: 0, max: 10, description: 'how many dominant colours to report' },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default meta;
