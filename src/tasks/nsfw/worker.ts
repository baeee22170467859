/**
 * nsfw: the MobileNetV2 classifier that nsfwjs ships, run with TensorFlow.js (wasm). The
 * preprocessing is the model's own: the whole upright image stretched to 224x224, RGB / 255.
 */
import type { Handler, JobInput, WorkerContext } from '../contract.js';
import { MOBILENET_SIDE, mobileNetPixels } from '../../runtime/mobilenet.js';
import { loadTfjs, quietly } from '../../runtime/tfjs.js';

const CLASSES = ['drawing', 'hentai', 'neutral', 'porn', 'sexy'] as const;
type NsfwClass = (typeof CLASSES)[number];

export interface NsfwResult {
  classes: Record<NsfwClass, number>;
  top: NsfwClass;
  /** porn + hentai: explicit content. */
  explicit: number;
  /** porn + hentai + sexy: what moderation queues act on. */
  unsafe: number;
  verdict: 'safe' | 'review' | 'unsafe';
  flagged: boolean;
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

export async function createHandler(_context: WorkerContext): Promise<Handler> {
  const tf = await loadTfjs();
  const { load } = await import('nsfwjs');
  const model = await quietly(() => load('MobileNetV2'));

  return async (job: JobInput) => {
    const options = job.options as { threshold: number; 'review-threshold': number };
    const data = await mobileNetPixels(job.bytes);
    const input = tf.tensor3d(data, [MOBILENET_SIDE, MOBILENET_SIDE, 3], 'int32');
    let predictions;
    try {
      predictions = await model.classify(input, CLASSES.length);
    } finally {
      input.dispose();
    }
    const classes = Object.fromEntries(CLASSES.map((name) => [name, 0])) as Record<NsfwClass, number>;
    for (const prediction of predictions) classes[prediction.className.toLowerCase() as NsfwClass] = round(prediction.probability);
    const top = CLASSES.reduce((best, name) => (classes[name] > classes[best] ? name : best), CLASSES[0]);
    const explicit = round(classes.porn + classes.hentai);
    const unsafe = round(classes.porn + classes.hentai + classes.sexy);
    const flagged = unsafe >= options.threshold;
    const verdict = flagged ? 'unsafe' : unsafe >= options['review-threshold'] ? 'review' : 'safe';
    const result: NsfwResult = { classes, top, explicit, unsafe, verdict, flagged };
    return { result };
  };
}
