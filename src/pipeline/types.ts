/** The engine's domain types. */
import type { ErrorCode } from '../errors.js';

/** An image as the scanner found it. `key` is stable across machines; `path` is where it is here. */
export interface ImageRef {
  key: string;
  path: string;
  size: number | null;
  mtimeMs: number | null;
  /** Set when the entry cannot be read at all (a manifest line naming a missing file, say). */
  problem?: { code: ErrorCode; message: string };
}

export type JobState = 'pending' | 'running' | 'done' | 'failed';

/** The file a job actually read: what its result is valid for. */
export interface InputIdentity {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface Shard {
  /** 1-based. */
  index: number;
  count: number;
}
