/**
 * Stable partition of image keys across machines: a key's shard depends on the key alone,
 * never on input order, the other shards or what is already done.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../errors.js';
import { invalid, parseInteger } from '../validate.js';
import type { Shard } from './types.js';

/** 1-based shard of a key among `count`. */
export function shardOf(key: string, count: number): number {
  const digest = createHash('sha256').update(key, 'utf8').digest();
  return (digest.readUIntBE(0, 6) % count) + 1;
}

export function inShard(key: string, shard: Shard | undefined): boolean {
  return shard === undefined || shard.count === 1 || shardOf(key, shard.count) === shard.index;
}

/** Parses `I/N` (1-based, as people count). */
export function parseShard(raw: unknown, where = '--shard'): Shard {
  const match = typeof raw === 'string' ? /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(raw) : null;
  if (!match) throw invalid(where, 'I/N with 1 <= I <= N, for example 3/8', raw);
  const index = Number(match[1]);
  const count = Number(match[2]);
  if (count < 1 || index < 1 || index > count) throw invalid(where, 'I/N with 1 <= I <= N, for example 3/8', raw);
  return { index, count };
}

/** Variables that array-job schedulers set to the 0-based index of this copy. */
export const SHARD_INDEX_VARIABLES = ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX'] as const;

/** `--shard-count N` with the index taken from Kubernetes Indexed Jobs or AWS Batch array jobs. */
export function shardFromEnvironment(rawCount: unknown, env: NodeJS.ProcessEnv, where = '--shard-count'): Shard {
  const count = parseInteger(where, rawCount, 1);
  const set = SHARD_INDEX_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== '');
  if (set.length === 0) {
    throw invalid(
      where,
      `one of ${SHARD_INDEX_VARIABLES.join(' or ')} set to this copy's 0-based index (or use --shard I/N)`,
      'neither set',
    );
  }
  const indexes = set.map((name) => parseInteger(name, env[name], 0, count - 1));
  // Both set and different: one of them is not this copy's (a variable inherited from elsewhere),
  // and which is cannot be known; taking either could process another copy's shard twice.
  if (indexes.some((index) => index !== indexes[0])) {
    throw new UsageError(
      `${where}: ${set.map((name) => `${name}=${env[name]}`).join(' and ')} disagree about this copy's index; ` +
        `unset the one your scheduler did not set, or use --shard I/N`,
    );
  }
  return { index: indexes[0]! + 1, count };
}

export function formatShard(shard: Shard | undefined): string | null {
  return shard ? `${shard.index}/${shard.count}` : null;
}
