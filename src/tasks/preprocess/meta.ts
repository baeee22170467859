import type { TaskMeta } from '../contract.js';

const preprocess: TaskMeta = {
  name: 'preprocess',
  version: 1,
  description: 'auto-orient, convert to sRGB, fit inside a size, convert format; writes OUT/preprocess/<key>',
  needs: [],
  concurrency: 'threads',
  // A libvips job keeps about half a core busy: reading, hand-offs between libuv and libvips
  // threads, writing. Measured on 2 cores (bench preprocess): 1,000 640x480 JPEGs in 15.8 s with
  // 2 workers, 14.0 with 3, 13.2 with 4; 64 6 MP JPEGs in 6.5-6.8 s with any of them. So two
  // workers per thread of the budget, at about 30 MB (small) to 50 MB (6 MP) an extra worker.
  threadsPerJob: 0.5,
  timeoutSeconds: 120,
  options: {
    'max-size': {
      type: 'integer',
      default: 1024,
      min: 0,
      max: 65_535,
      description: 'fit inside N x N pixels, keeping the aspect ratio and never enlarging (0: keep the size)',
    },
    format: {
      type: 'enum',
      values: ['jpeg', 'png', 'webp', 'avif', 'same'],
      default: 'jpeg',
      description: 'output format (same: the input format where it can be written, else JPEG or PNG)',
    },
    quality: { type: 'integer', default: 85, min: 1, max: 100, description: 'JPEG, WebP and AVIF quality' },
    metadata: {
      type: 'enum',
      values: ['strip', 'keep-no-gps', 'keep'],
      default: 'strip',
      description: 'strip all metadata, keep camera EXIF without GPS, or keep everything (GPS included)',
    },
    background: {
      type: 'string',
      default: '#ffffff',
      pattern: /^#[0-9a-fA-F]{6}$/,
      patternHint: 'a colour like #ffffff',
      description: 'colour under transparent pixels when the output format has no alpha (JPEG)',
    },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default preprocess;
