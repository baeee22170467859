import type { TaskMeta } from '../contract.js';

const anonymize: TaskMeta = {
  name: 'anonymize',
  version: 1,
  description: 'blurs, pixelates or fills every detected face; writes OUT/anonymize/<key> upright, metadata (GPS included) stripped',
  needs: ['faces'],
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 120,
  options: {
    mode: { type: 'enum', values: ['blur', 'pixelate', 'fill'], default: 'blur', description: 'how a face region is hidden' },
    'min-score': {
      type: 'number',
      default: 0.3,
      min: 0.2,
      max: 1,
      description: 'hide detections from this score (lower than faces\' own threshold: privacy errs towards hiding)',
    },
    margin: { type: 'number', default: 0.25, min: 0, max: 2, description: 'each face box is grown by this share of its size on every side' },
    format: {
      type: 'enum',
      values: ['same', 'jpeg', 'png', 'webp'],
      default: 'same',
      description: 'output format (same: the input\'s where it can be written, else PNG)',
    },
    colour: {
      type: 'string',
      default: '#000000',
      pattern: /^#[0-9a-fA-F]{6}$/,
      patternHint: 'a colour like #000000',
      description: 'fill colour for --anonymize-mode fill',
    },
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default anonymize;
