import type { TaskMeta, TaskOptions } from '../contract.js';

/** The catalogue model behind each --background-model choice. */
export const BACKGROUND_MODELS = { isnet: 'imgly-isnet-small', selfie: 'human-selfie' } as const;
export type BackgroundModel = keyof typeof BACKGROUND_MODELS;

const OUTPUT = /^(cutout|mask|color:#[0-9a-fA-F]{6})$/;

const background: TaskMeta = {
  name: 'background',
  version: 2,
  description: 'background removal (IS-Net salient object, or people-only selfie segmentation): cut-out, mask or colour fill at full resolution',
  needs: [],
  // Single-threaded sessions, one per core up to 4. BENCHMARKS.md, suite concurrency (2 cores):
  // 2 sessions x 1 intra-op thread beat 1 x 2 by 1.17x at the steady rate, and each extra
  // session costs about 0.8 GB. The cap of 4 (about 3.5 GB) is derived, not measured on a larger
  // machine: it keeps a 16-core run from holding 16 sessions (13 GB or more) unless asked
  // (--concurrency background=N); the other cores go to the run's other tasks.
  concurrency: 4,
  threadsPerJob: 1,
  timeoutSeconds: 300,
  // Only the model --background-model picks loads, and each is optional: the other may be absent.
  models: (options) => [BACKGROUND_MODELS[options.model as BackgroundModel]],
  options: {
    model: { type: 'enum', values: Object.keys(BACKGROUND_MODELS), default: 'isnet', description: 'isnet: any salient subject (IS-Net, AGPL-3.0 package); selfie: people only, coarse, fast (MIT)' },
    output: {
      type: 'string',
      default: 'cutout',
      pattern: OUTPUT,
      patternHint: 'cutout, mask or color:#RRGGBB',
      description: 'cutout (PNG with transparency), mask (8-bit PNG) or color:#RRGGBB (the subject on a flat colour)',
    },
    format: { type: 'enum', values: ['png', 'jpeg'], default: 'png', description: 'file format; jpeg only with a color: output' },
  },
  validate(options: TaskOptions) {
    if (options.format === 'jpeg' && !String(options.output).startsWith('color:')) {
      return `--background-format jpeg needs --background-output color:#RRGGBB (JPEG has no transparency; got ${String(options.output)})`;
    }
    return undefined;
  },
  worker: new URL('./worker.js', import.meta.url),
};

export default background;
