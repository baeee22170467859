import type { TaskMeta } from '../contract.js';
import { brandsFingerprint, listBrands } from './gallery.js';

const logos: TaskMeta = {
  name: 'logos',
  version: 1,
  description: 'brands from a reference gallery (--logos-from DIR): found by their pictures (keypoints, verified placement) and by name in OCR text',
  needs: [],
  // Brand names in text count when the run reads text; OCR is too slow to force on every run.
  uses: ['ocr'],
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 120,
  options: {
    from: { type: 'string', default: '', required: true, pattern: /\S/, patternHint: 'a folder path', description: 'the brand gallery: DIR/<brand>/*.png|jpg|webp, optional DIR/<brand>/aliases.txt' },
    'min-score': { type: 'number', default: 0.25, min: 0, max: 1, description: 'lowest score of a reported logo (visual: how well the photo shows the reference at the found place; text: name similarity x OCR confidence)' },
    'text-similarity': { type: 'number', default: 0.8, min: 0.5, max: 1, description: 'how close an OCR word must be to a brand name or alias (1 - edit distance / length)' },
  },
  validate(options) {
    const brands = listBrands(String(options.from));
    return typeof brands === 'string' ? brands : undefined;
  },
  fingerprint(options) {
    return brandsFingerprint(String(options.from));
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default logos;
