/**
 * The task contract: what a task declares (its meta) and what its worker module exports.
 * The engine reads only these types; it never imports a task's internals.
 */
// Defined beside the other errors so that runtime/ can throw it without importing the task layer.
export { TaskError } from '../errors.js';

export type TaskName = string;

/**
 * What a worker's first job of a task may take beyond its time limit, for the worker to start,
 * load the task and warm it up, when the task sets no `loadTimeoutSeconds`. Measured on 2 busy
 * cores, first job minus a warm one: faces 1-2.8 s, objects 1 s, nsfw 1.8-2.2 s, embed 2 s, ocr
 * 1.3-3.5 s, background 10-14 s, the slowest; 120 s leaves that 8x for slower machines and disks
 * and for cores shared by workers that load at once, and still stops within two minutes a worker
 * that hangs while loading.
 */
export const DEFAULT_LOAD_TIMEOUT_SECONDS = 120;

/** A task option, exposed as `--<task>-<name>` on the command line and `<task><Name>` in a config file. */
export type OptionSpec =
  | { type: 'integer'; default: number; min?: number; max?: number; description: string }
  | { type: 'number'; default: number; min?: number; max?: number; description: string }
  | { type: 'enum'; values: readonly string[]; default: string; description: string }
  | { type: 'boolean'; default: boolean; description: string }
  | {
      type: 'string';
      default: string;
      pattern?: RegExp;
      patternHint?: string;
      /** The task cannot run without it (a folder to read): not giving it is a usage error, and help says "(required)". */
      required?: boolean;
      description: string;
    };

export type OptionValue = number | string | boolean;
export type TaskOptions = Readonly<Record<string, OptionValue>>;

export interface TaskMeta {
  readonly name: TaskName;
  /** Bump when results change: done jobs of an older version are recomputed. */
  readonly version: number;
  readonly description: string;
  /** Tasks whose results this one needs on the same image; they run first and arrive as `inputs`. */
  readonly needs: readonly TaskName[];
  /**
   * Optional prerequisites: when the run includes one of these tasks, it runs first on the image
   * and its result arrives in `inputs` if it is done (a failure there does not fail this task).
   * Which of them the run includes is part of the options hash, so adding one redoes the job.
   */
  readonly uses?: readonly TaskName[];
  /** Kinds of result this task offers others, e.g. 'classes' (a classifier's `{ top, classes }`). */
  readonly provides?: readonly string[];
  /** Kinds of result it uses, as `uses`, from every registered task that provides them. */
  readonly usesProvided?: readonly string[];
  /**
   * Default pool size: 'threads' for light tasks (one worker per thread of the budget), or a
   * number for tasks whose workers are heavy (a model's memory), capped by the budget.
   */
  readonly concurrency: number | 'threads';
  /**
   * Native threads one job keeps busy, on average; counted against the run's `--threads` budget.
   * May be a fraction (0.5) for jobs that wait on I/O and hand-offs for part of their time.
   */
  readonly threadsPerJob: number;
  /** Default per-job time limit. */
  readonly timeoutSeconds: number;
  /**
   * What a worker's first job of this task may take beyond its time limit, for the worker to start,
   * load the task (module, models) and warm it up; default DEFAULT_LOAD_TIMEOUT_SECONDS.
   * Later jobs on that worker have the plain limit.
   */
  readonly loadTimeoutSeconds?: number;
  /**
   * V8 heap limit of one worker, in MB (default 1024): a worker that outgrows it is stopped and
   * replaced, and the job retried, then failed with E_WORKER_CRASH.
   */
  readonly heapMb?: number;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /**
   * Ids in models/catalog.json that the task loads: checked at start-up (present, sha256), so a
   * missing or damaged model stops the run before any work. A function of the task's resolved
   * options when they choose what loads (a detector, languages): the check then covers exactly
   * what this run will load, and a damaged model that no option of the run picks stops nothing.
   */
  readonly models?: readonly string[] | ((options: TaskOptions) => readonly string[]);
  /**
   * The task's results carry `flagged: boolean` (an image a moderation gate should stop), so that
   * `--fail-on <task>` can make the run exit 3.
   */
  readonly flags?: boolean;
  /**
   * Checks the resolved options together, at start-up (say, that an installed package backs
   * them); returns a message for a usage error, or nothing.
   */
  readonly validate?: (options: TaskOptions) => string | undefined;
  /**
   * For options that name files (an example gallery): a fingerprint of what they name now
   * (paths, sizes, mtimes), taken at start-up and folded into the options hash, so that a
   * changed gallery redoes the jobs like a changed option does.
   */
  readonly fingerprint?: (options: TaskOptions) => string;
  /** Module whose `createHandler` runs inside the task's worker threads. */
  readonly worker: URL;
  /**
   * Structured-cloneable settings handed to `createHandler` as `context.config`: how one worker
   * module serves several tasks (each model card is a task run by the same module).
   */
  readonly workerConfig?: unknown;
}

/** What a handler receives for one image. */
export interface JobInput {
  readonly key: string;
  readonly path: string;
  /** The file's bytes, read once by the engine (the same bytes its sha256 describes). */
  readonly bytes: Buffer;
  readonly sha256: string;
  readonly options: TaskOptions;
  /** Results of the prerequisite tasks on this image, by task name (each task's own result type). */
  readonly inputs: Readonly<Record<TaskName, unknown>>;
  /** Vectors (`JobOutput.vector`) of the prerequisite tasks that produced one, by task name. */
  readonly vectors: Readonly<Record<TaskName, Float32Array>>;
  /** Writes artefacts under `OUT/<task>/` atomically, never over this input. */
  readonly artifacts: ArtifactWriter;
}

export interface ArtifactWriter {
  /**
   * Writes `data` to `OUT/<task>/<relative path derived from the key><suffix>` through a temporary
   * name and a rename. Returns the path relative to OUT. Fails with E_WRITE rather than replace
   * the job's own input (an --out over the inputs).
   */
  write(data: Buffer | string, suffix: string): Promise<string>;
}

export interface JobOutput {
  /** Plain JSON-serialisable data: it is stored in the ledger as JSON. "Found nothing" is a result too. */
  readonly result: unknown;
  /** Paths relative to OUT of the files this job wrote. */
  readonly artifacts?: readonly string[];
  /**
   * A numeric vector (an embedding), stored beside the result as a BLOB of float32 rather than
   * as JSON text: 4 bytes a number instead of about 20, and no parsing for readers.
   */
  readonly vector?: Float32Array;
}

export type Handler = (job: JobInput) => Promise<JobOutput>;

/** Context given to `createHandler` once per worker thread. */
export interface WorkerContext {
  readonly task: TaskName;
  /** Native threads this worker may use (its share of `--threads`). */
  readonly threads: number;
  /** The task meta's `workerConfig`. */
  readonly config?: unknown;
}

/** The shape of a task's worker module. Models load here, once per worker, never at import time. */
export interface TaskWorkerModule {
  createHandler(context: WorkerContext): Handler | Promise<Handler>;
}
