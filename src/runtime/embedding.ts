/**
 * Image embeddings: the MobileNetV2 that nsfwjs ships, cut at its `flatten_1` layer (the 1280
 * pooled features under the classifier head), L2-normalised so that a dot product is the cosine
 * similarity. The same photo re-cropped scores about 0.91, unrelated photos 0.2-0.6: good for
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
