import type { TaskMeta, TaskOptions } from '../contract.js';
import { modelCatalog, packageFolder } from '../../runtime/models.js';

/** Each language's data comes from its own npm package: @tesseract.js-data/<lang>. */
export function languagePackage(lang: string): string {
  return `@tesseract.js-data/${lang}`;
}

function languages(options: TaskOptions): string[] {
  return String(options.lang).split('+');
}

const ocr: TaskMeta = {
  name: 'ocr',
  version: 1,
  description: 'text recognition (tesseract.js LSTM): text, confidence, lines and words with boxes, page rotation',
  needs: [],
  // One worker per thread of the budget: tesseract.js runs one thread per worker, so workers are the
  // only way to use the cores. BENCHMARKS.md, suite concurrency: 2 workers beat 1 by 1.18x at the
  // steady rate on 2 cores; an extra worker costs about 50 MB, so one per core stays affordable on
  // 16 cores (derived, not measured there).
  concurrency: 'threads',
  threadsPerJob: 1,
  timeoutSeconds: 300,
  // The language data of --ocr-lang that the catalogue lists (those imgpipe ships: eng), hashed at
  // start-up like any model. Other languages are the user's install: no catalogued hash to check
  // them against, so `validate` checks only that their package is there.
  models: (options) => {
    const wanted = new Set(languages(options).map(languagePackage));
    return modelCatalog()
      .filter((model) => model.format === 'traineddata' && wanted.has(model.package))
      .map((model) => model.id);
  },
  options: {
    lang: {
      type: 'string',
      default: 'eng',
      pattern: /^[a-z_]{3,}(\+[a-z_]{3,})*$/,
      patternHint: 'tesseract language codes joined by +, like eng or eng+fra',
      description: 'languages, each from its npm package @tesseract.js-data/<lang>',
    },
    'min-confidence': {
      type: 'number',
      default: 60,
      min: 0,
      max: 100,
      description: 'words below this confidence are dropped (photos without text otherwise yield garbage)',
    },
    psm: {
      type: 'integer',
      default: 3,
      // Not 0: tesseract's "orientation and script detection only" reads no text, so every image
      // would be recorded done with none (orientation is --ocr-rotate's job).
      min: 1,
      max: 13,
      description: "page segmentation mode, 1-13 (3: automatic, as the tesseract CLI; tesseract.js's own default 6 reads pages far worse)",
    },
    dpi: { type: 'integer', default: 300, min: 70, max: 2400, description: 'resolution to assume when the image does not say' },
    rotate: {
      type: 'enum',
      values: ['auto', 'off'],
      default: 'auto',
      description: 'auto: when little text reads confidently, also try the page at 90, 180 and 270 degrees and keep the best',
    },
    text: { type: 'boolean', default: false, description: 'also write the text to OUT/ocr/<key>.txt' },
  },
  validate(options) {
    const missing = languages(options).filter((lang) => 'reason' in packageFolder(languagePackage(lang)));
    return missing.length === 0
      ? undefined
      : `--ocr-lang: no language data for ${missing.join(', ')}; install it with: npm install ${missing.map(languagePackage).join(' ')}`;
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default ocr;
