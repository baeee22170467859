/**
 * What a run must do for one image: pure decisions over what the ledger knows, so they can be
 * read (and tested) apart from the machinery that carries them out.
 */
import type { TaskMeta, TaskOptions } from '../tasks/contract.js';
import type { ImageRow, JobRow } from './ledger.js';

/** A task as configured for this run. */
export interface TaskRun {
  meta: TaskMeta;
  options: TaskOptions;
  /** Identifies the options a result was computed with: change one and the job is redone. */
  optionsHash: string;
  concurrency: number;
  threadsPerJob: number;
  timeoutMs: number;
}

export type Decision =
  /** Nothing to do: a valid result exists. */
  | 'done'
  /** Nothing to do: it failed on this very input before, and failures are retried only when asked. */
  | 'failed'
  | 'run';

/**
 * A result is valid for the bytes it was computed from. Size and mtime unchanged means the same
 * file (as make and rsync assume); otherwise equal content hashes still do.
 */
function sameInput(job: JobRow, image: ImageRow): boolean {
  if (job.inputSize === image.size && job.inputMtimeMs === image.mtimeMs) return true;
  return job.inputSha256 !== null && job.inputSha256 === image.sha256;
}

function isCurrent(job: JobRow, task: TaskRun, image: ImageRow): boolean {
  return job.taskVersion === task.meta.version && job.optionsHash === task.optionsHash && sameInput(job, image);
}

/** The artefacts a done job wrote (paths relative to --out). */
export function artefactsOf(job: JobRow): string[] {
  return job.artifacts ? (JSON.parse(job.artifacts) as string[]) : [];
}

/**
 * `artefactsPresent` says whether a done job's artefacts are all under this run's --out: a done
 * job whose files were deleted, moved, or written to another --out is redone, as make redoes a
 * target whose file is gone.
 */
export function decide(
  task: TaskRun,
  job: JobRow | undefined,
  image: ImageRow,
  flags: { force: boolean; retryFailed: boolean; artefactsPresent: (job: JobRow) => boolean },
): Decision {
  if (!job || flags.force) return 'run';
  const current = isCurrent(job, task, image);
  if (job.state === 'done' && current) return flags.artefactsPresent(job) ? 'done' : 'run';
  if (job.state === 'failed' && current && !flags.retryFailed) return 'failed';
  return 'run';
}

/** Attempts carry over only for a job interrupted on the same input; anything else starts afresh. */
export function keepsAttempts(task: TaskRun, job: JobRow | undefined, image: ImageRow, flags: { force: boolean }): boolean {
  return !!job && !flags.force && (job.state === 'pending' || job.state === 'running') && job.taskVersion !== null && isCurrent(job, task, image);
}

/** Would hashing the file now let a result stand (size or mtime changed, content maybe not)? */
export function worthHashing(task: TaskRun, job: JobRow | undefined, image: ImageRow): boolean {
  return (
    !!job &&
    (job.state === 'done' || job.state === 'failed') &&
    job.inputSha256 !== null &&
    image.sha256 === null &&
    job.taskVersion === task.meta.version &&
    job.optionsHash === task.optionsHash &&
    !sameInput(job, image)
  );
}
