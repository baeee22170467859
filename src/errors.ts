/**
 * What can go wrong, in the terms scripts rely on: the exit codes of every command, the error
 * codes a failed job is recorded with (and TaskError, which carries one), and the two errors that
 * end a command with their own exit code (a usage error, an interruption). Codes are stable:
 * documented in the README, never renamed.
 */

/** Exit codes of every command (documented in the README). */
export const ExitCode = {
  ok: 0,
  someFailed: 1,
  usage: 2,
  /** `--fail-on`: a task flagged an image (a moderation gate for CI). */
  flagged: 3,
  interrupted: 130,
} as const;

/**
 * Stable error codes recorded in the ledger for failed jobs. Scripts match on these, so
 * a code is never renamed; add new ones instead.
 */
const ERROR_CODES = {
  E_NOT_FOUND: 'the file does not exist (any more)',
  E_READ: 'the file could not be read (permissions, a directory, an I/O error)',
  E_DECODE: 'the bytes are not a decodable image (corrupt, truncated or not an image)',
  E_UNSUPPORTED: 'an image format this build cannot decode',
  E_TOO_LARGE: 'the image exceeds the pixel limit, or the file the size imgpipe reads (2 GiB)',
  E_WRITE: 'an artefact could not be written under --out',
  E_TIMEOUT: 'the job ran past its time limit (retried, then failed)',
  E_WORKER_CRASH: 'the worker thread died on this image (retried, then failed)',
  E_PROCESS_DIED: 'the whole process died (a native crash, the OOM killer) each time this job ran alone, --max-attempts times',
  E_DEPENDENCY: 'a prerequisite task failed on this image',
  E_TASK: 'the task failed for another reason (see the message)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes worth another attempt: the same input may well succeed next time. */
export const RETRIABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_TIMEOUT', 'E_WORKER_CRASH']);

/**
 * What a thrown value says: an Error's message, or the value itself as text (a string, undefined).
 * Never throws itself, whatever a task threw (`{ message: 42 }`, an object without a prototype,
 * a throwing getter): a failure's reason must not become imgpipe's own TypeError.
 */
export function messageOf(error: unknown): string {
  try {
    const message = (error as { message?: unknown } | null | undefined)?.message;
    if (typeof message === 'string') return message;
    return String(message ?? error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/**
 * Thrown by task handlers and runtime helpers for failures that belong to the image, with a
 * stable code. The tasks' contract (src/tasks/contract.ts) re-exports it.
 */
export class TaskError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

/**
 * A problem with how imgpipe was invoked or with what it was given; exit code 2. Reported before
 * any work, except for an input that fails only when it is read (a manifest deleted after the
 * start-up check), which stops the run with the same message.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * A command stopped in order by Ctrl-C or SIGTERM, having undone what it started; exit 130. The
 * message says what was left (e.g. that nothing was merged).
 */
export class Interrupted extends Error {
  constructor(
    readonly signal: NodeJS.Signals,
    message: string,
  ) {
    super(message);
    this.name = 'Interrupted';
  }
}
