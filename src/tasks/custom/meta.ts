/** A model card as a task: its options, its fingerprint, and the shared worker module. */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { OptionSpec, TaskMeta } from '../contract.js';
import type { ModelCard } from './card.js';

function optionsOf(card: ModelCard): Record<string, OptionSpec> {
  const output = card.output;
  switch (output.kind) {
    case 'classifier':
      return {
        top: { type: 'integer', default: output.top, min: 1, max: 1000, description: 'how many of the best classes to report' },
        'min-score': { type: 'number', default: output.minScore, min: 0, max: 1, description: 'lowest score of a reported class' },
      };
    case 'detector':
      return {
        'min-score': { type: 'number', default: output.minScore, min: 0, max: 1, description: 'lowest score of a reported detection' },
        nms: { type: 'number', default: output.nms, min: 0, max: 1, description: 'overlap (IoU) above which the weaker of two boxes of a class is dropped' },
      };
    case 'segmenter':
      return {
        output: { type: 'enum', values: ['mask', 'cutout', 'none'], default: output.artefact, description: 'file written per image under OUT/<task>/ (PNG)' },
      };
    case 'embedder':
      return {};
  }
}

/**
 * The card's text without its `loadTimeoutSeconds` member: a time limit changes no result, so
 * setting it (what a large model that failed E_TIMEOUT on its load needs) must not redo the jobs
 * done. The member goes with the comma and spacing that adding it brought (after it, or before it
 * when it is the last), so that a card it was added to hashes as it did before.
 */
function withoutLoadTimeout(source: string): string {
  const member = String.raw`"loadTimeoutSeconds"\s*:\s*[-+0-9.eE]+`;
  return source.replace(new RegExp(String.raw`${member}\s*,\s*`), '').replace(new RegExp(String.raw`\s*,\s*${member}`), '');
}

/** What changes results besides options: the card's text and the model file's identity. */
function fingerprintOf(card: ModelCard): string {
  const model = statSync(card.model);
  const identity = card.sha256 ?? `${model.size}:${model.mtimeMs}`;
  const text = card.loadTimeoutSeconds === undefined ? card.source : withoutLoadTimeout(card.source);
  return createHash('sha256').update(text).update('\0').update(identity).digest('hex');
}

export function cardTask(card: ModelCard): TaskMeta {
  const fingerprint = fingerprintOf(card);
  return {
    name: card.id,
    version: card.version,
    description: card.description,
    needs: [],
    ...(card.kind === 'classifier' ? { provides: ['classes'] } : {}),
    concurrency: 'threads',
    threadsPerJob: 1,
    timeoutSeconds: 120,
    ...(card.loadTimeoutSeconds !== undefined ? { loadTimeoutSeconds: card.loadTimeoutSeconds } : {}),
    options: optionsOf(card),
    worker: new URL('./worker.js', import.meta.url),
    workerConfig: card,
    fingerprint: () => fingerprint,
  };
}
