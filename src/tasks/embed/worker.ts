/**
 * embed: the image's embedding as the job's vector (a float32 BLOB in the ledger); the JSON
 * result only describes it.
 */
import type { Handler, WorkerContext } from '../contract.js';
import { EMBEDDING_DIMS, EMBEDDING_LAYER, EMBEDDING_MODEL, loadEmbedder } from '../../runtime/embedding.js';

export interface EmbedResult {
  model: string;
  layer: string;
  dims: number;
  /** Length of the raw features (the stored vector is normalised to 1): near 0 means a featureless image. */
  norm: number;
}

export async function createHandler(_context: WorkerContext): Promise<Handler> {
  const embed = await loadEmbedder();
  return async (job) => {
    const { vector, norm } = await embed(job.bytes);
    const result: EmbedResult = { model: EMBEDDING_MODEL, layer: EMBEDDING_LAYER, dims: EMBEDDING_DIMS, norm: Math.round(norm * 1000) / 1000 };
    return { result, vector };
  };
}
