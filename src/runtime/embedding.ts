/**
 * Image embeddings: the MobileNetV2 that nsfwjs ships, cut at its `flatten_1` layer (the 1280
 * pooled features under the classifier head), L2-normalised so that a dot product is the cosine
 * similarity. Measured on the six face-api photos (README, `duplicates`): re-encoded copies and
 * copies resized to 480 px or more score 0.91-1, a 90 % crop 0.87-0.96, two different photos of
 * people 0.40-0.75. The features follow fine texture at the model's 224 px input (a Gaussian
 * blur of 0.8 px there moved two of the photos to 0.49 and 0.76 of themselves), so a copy with
 * less detail than that (a 240 px resize: 0.41-0.85) can score like an unrelated photo: good for
 * near duplicates and for matching examples, not for naming what is in a picture.
 * Shared by the embed task and by labels, which embeds its example gallery.
 */
import { MOBILENET_SIDE, mobileNetPixels } from './mobilenet.js';
import { loadTfjs, quietly } from './tfjs.js';

export const EMBEDDING_MODEL = 'nsfwjs-mobilenet-v2';
export const EMBEDDING_LAYER = 'flatten_1';
export const EMBEDDING_DIMS = 1280;

export interface Embedding {
  /** Unit length (or all zeros when the features are all zero). */
  vector: Float32Array;
  /** Length of the raw features before normalising. */
  norm: number;
}

export type Embedder = (bytes: Buffer) => Promise<Embedding>;

/** Loads the model once (per worker thread: call it from `createHandler` or lazily). */
export async function loadEmbedder(): Promise<Embedder> {
  const tf = await loadTfjs();
  const { load } = await import('nsfwjs');
  const model = await quietly(() => load('MobileNetV2'));
  return async (bytes) => {
    const data = await mobileNetPixels(bytes);
    const features = tf.tidy(() => model.infer(tf.tensor3d(data, [MOBILENET_SIDE, MOBILENET_SIDE, 3], 'int32'), EMBEDDING_LAYER));
    let values: Float32Array;
    try {
      values = (await features.data()) as Float32Array;
    } finally {
      features.dispose();
    }
    if (values.length !== EMBEDDING_DIMS) throw new Error(`layer ${EMBEDDING_LAYER} gave ${values.length} values, expected ${EMBEDDING_DIMS}`);
    let sum = 0;
    for (const value of values) sum += value * value;
    const norm = Math.sqrt(sum);
    const vector = new Float32Array(EMBEDDING_DIMS);
    if (norm > 0) for (let i = 0; i < EMBEDDING_DIMS; i += 1) vector[i] = values[i]! / norm;
    return { vector, norm };
  };
}

/** Cosine similarity of two unit vectors. */
export function cosine(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i += 1) sum += a[i]! * b[i]!;
  return sum;
}
