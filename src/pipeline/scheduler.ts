/**
 * The scheduler: pulls images from the scanner, decides each (image, task) job against the
 * ledger, and hands ready jobs to their task's pool within the thread budget. A task runs on
 * an image once the tasks it needs are done there. Memory stays flat: the scanner is paused
 * while too many images are in flight, and an image is forgotten once its jobs are settled.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type { ErrorCode } from '../errors.js';
import { RETRIABLE_CODES } from '../errors.js';
import { DEFAULT_LOAD_TIMEOUT_SECONDS, type TaskName } from '../tasks/contract.js';
import type { ImageLookup, JobRow, JobWrite, Ledger } from './ledger.js';
import { artefactsOf, decide, keepsAttempts, worthHashing, type TaskRun } from './plan.js';
import { TaskPool } from './pools.js';
import { inShard } from './shard.js';
import type { ImageRef, Shard } from './types.js';
import { vectorBytes } from './vectors.js';
import type { WorkerReply } from './worker-protocol.js';

export interface SchedulerConfig {
  runId: number;
  /** Every task of the run, prerequisites before the tasks that need them. */
  tasks: readonly TaskRun[];
  threads: number;
  maxAttempts: number;
  retryFailed: boolean;
  force: boolean;
  outDir: string;
  shard: Shard | undefined;
  /** How long in-flight jobs may take to finish after a stop before they are abandoned. */
  graceMs: number;
  /** --max-pixels, applied by every worker's decoding. */
  maxPixels: number;
  /**
   * Write each job's start to the ledger before the job starts, not within the next 100 ms: set
   * after a run that died (Ledger.previousRunDied), so that a job that kills the process at once
   * is found `running` next time, and becomes a suspect. Costs a write per job, hence only then.
   */
  recordEachStart: boolean;
}

export interface JobEvent {
  task: TaskName;
  key: string;
  path: string;
  state: 'done' | 'failed' | 'retry';
  code?: ErrorCode;
  message?: string;
  attempt: number;
  durationMs: number;
  /** Size of the image as this try read it; absent when nothing was read. */
  bytesRead?: number;
  /** Artefacts written by a done job. */
  bytesWritten?: number;
}

/** What the scheduler tells the outside world (progress bars, JSON events, logs). */
export interface RunObserver {
  /** Images scanned so far; `finished` once the inputs are exhausted (not when a stop cut the scan short). */
  scanned(images: number, finished: boolean): void;
  planned(task: TaskName, jobs: number): void;
  skipped(task: TaskName, state: 'done' | 'failed', jobs: number): void;
  job(event: JobEvent): void;
  warning(message: string): void;
}

export interface TaskCounts {
  planned: number;
  done: number;
  failed: number;
  retries: number;
  alreadyDone: number;
  alreadyFailed: number;
}

/** One task's situation at a moment, for monitoring (metrics): pulled, so it costs nothing unless read. */
export interface TaskStats {
  counts: TaskCounts;
  /** Jobs ready to start, waiting for a worker or for the thread budget. */
  queued: number;
  running: number;
  poolSize: number;
  /** See TaskPool.utilization. */
  utilization: number;
}

export interface SchedulerResult {
  interrupted: boolean;
  images: { scanned: number; inShard: number; outsideShard: number; duplicateKeys: number };
  tasks: Record<TaskName, TaskCounts>;
  /** This run's failed jobs by code, with the first message of each: what the summary reports. */
  failures: Partial<Record<ErrorCode, { count: number; example: string }>>;
}

interface ImagePlan {
  imageId: number;
  key: string;
  path: string;
  size: number | null;
  mtimeMs: number | null;
  /** Jobs of this run not yet settled. */
  open: Set<TaskName>;
  /** Tasks done on this image (now or before) and tasks failed on it. */
  done: Set<TaskName>;
  failed: Set<TaskName>;
  /** Outputs (result JSON text, vector bytes) of done tasks that other tasks of this run need. */
  results: Map<TaskName, { result: string; vector: Buffer | null }>;
  shaRecorded: boolean;
  /** The ledger row of each open job, updated in place and written whole at each change. */
  jobs: Map<TaskName, JobWrite>;
  /** Open jobs that were running when a process died: each runs alone (Ledger.recoverOrphans). */
  suspects: Set<TaskName>;
}

const SCAN_BATCH = 256;
/** A batch waits at most this long for more images from a slow source. */
const SCAN_PAUSE_MS = 50;

function retryDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 5_000) * (0.75 + Math.random() * 0.5);
}

async function hashFile(file: string): Promise<string | null> {
  try {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  } catch {
    return null;
  }
}

export class Scheduler {
  private readonly tasks: Map<TaskName, TaskRun>;
  private readonly dependents = new Map<TaskName, TaskName[]>();
  /** Per task, what it waits for on an image: its needs, and the tasks it uses that this run includes. */
  private readonly prerequisites = new Map<TaskName, { needs: readonly TaskName[]; uses: TaskName[] }>();
  private readonly pools = new Map<TaskName, TaskPool>();
  private readonly ready = new Map<TaskName, ImagePlan[]>();
  /** Suspects ready to run: each starts once nothing is in flight, and nothing starts beside it. */
  private readonly suspects: { plan: ImagePlan; task: TaskRun }[] = [];
  private runningAlone = false;
  private readonly inFlight = new Map<TaskName, number>();
  private readonly counts: Record<TaskName, TaskCounts> = {};
  private readonly failures: SchedulerResult['failures'] = {};
  private readonly images = { scanned: 0, inShard: 0, outsideShard: 0, duplicateKeys: 0 };
  private readonly plans = new Set<ImagePlan>();
  private markStopped: () => void = () => undefined;
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));
  private readonly highWater: number;
  private budgetUsed = 0;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private stopping = false;
  private rotation = 0;
  private toldMissingArtefacts = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly config: SchedulerConfig,
    private readonly observer: RunObserver,
  ) {
    this.tasks = new Map(config.tasks.map((task) => [task.meta.name, task]));
    for (const task of config.tasks) {
      this.ready.set(task.meta.name, []);
      this.inFlight.set(task.meta.name, 0);
      this.counts[task.meta.name] = { planned: 0, done: 0, failed: 0, retries: 0, alreadyDone: 0, alreadyFailed: 0 };
      const uses = (task.meta.uses ?? []).filter((name) => config.tasks.some((other) => other.meta.name === name));
      this.prerequisites.set(task.meta.name, { needs: task.meta.needs, uses });
      for (const need of [...task.meta.needs, ...uses]) {
        if (!this.dependents.has(need)) this.dependents.set(need, []);
        this.dependents.get(need)!.push(task.meta.name);
      }
    }
    this.highWater = 256 + config.threads * 16;
  }

  /** Stops dispatching; in-flight jobs get `graceMs` to finish, then are abandoned as pending. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.markStopped();
    this.signal();
  }

  async run(source: AsyncIterable<ImageRef>): Promise<SchedulerResult> {
    try {
      // A stop must not wait for a source that blocks (stdin, a slow network mount).
      await Promise.race([this.scan(source), this.stopped]);
      while (!this.stopping && (this.plans.size > 0 || this.retryTimers.size > 0)) await this.nextChange();
      if (this.stopping) await this.drain();
    } finally {
      for (const timer of this.retryTimers) clearTimeout(timer);
      await Promise.all([...this.pools.values()].map((pool) => pool.destroy()));
      this.ledger.flush();
    }
    return { interrupted: this.stopping, images: this.images, tasks: this.counts, failures: this.failures };
  }

  stats(): Record<TaskName, TaskStats> {
    const stats: Record<TaskName, TaskStats> = {};
    for (const task of this.config.tasks) {
      const name = task.meta.name;
      stats[name] = {
        counts: { ...this.counts[name]! },
        queued: this.ready.get(name)!.length + this.suspects.filter((s) => s.task.meta.name === name).length,
        running: this.inFlight.get(name)!,
        poolSize: task.concurrency,
        utilization: this.pools.get(name)?.utilization ?? 0,
      };
    }
    return stats;
  }

  // ---- scanning ---------------------------------------------------------------------------------

  /**
   * Pulls images in batches (one ledger transaction each). A batch also goes out when the
   * source pauses, so that a slow producer (paths trickling in on stdin) is processed as it
   * comes rather than when a batch fills.
   */
  private async scan(source: AsyncIterable<ImageRef>): Promise<void> {
    const iterator = source[Symbol.asyncIterator]();
    let batch: ImageRef[] = [];
    let pause: Promise<'pause'> | undefined;
    // The source may fail (a manifest that cannot be read) while a batch is admitted, before `next`
    // is awaited: marked handled at once, the error still surfaces at the await below, and so
    // leaves run() as its rejection rather than as an unhandled one.
    const ask = (): Promise<IteratorResult<ImageRef>> => {
      const promise = iterator.next();
      promise.catch(() => undefined);
      return promise;
    };
    let next = ask();
    while (!this.stopping) {
      const item = pause ? await Promise.race([next, pause]) : await next;
      if (item === 'pause' || item.done) {
        pause = undefined;
        if (batch.length > 0) await this.admit(batch);
        batch = [];
        if (item === 'pause') continue;
        break;
      }
      next = ask();
      const ref = item.value;
      this.images.scanned += 1;
      if (!inShard(ref.key, this.config.shard)) {
        this.images.outsideShard += 1;
        continue;
      }
      batch.push(ref);
      pause ??= new Promise((resolve) => setTimeout(() => resolve('pause'), SCAN_PAUSE_MS));
      if (batch.length >= SCAN_BATCH) {
        pause = undefined;
        await this.admit(batch);
        batch = [];
      }
    }
    this.observer.scanned(this.images.scanned, !this.stopping);
  }

  private async admit(refs: ImageRef[]): Promise<void> {
    while (this.plans.size >= this.highWater && !this.stopping) await this.nextChange();
    if (this.stopping) return;
    const lookups = this.ledger.lookupImages(refs, this.config.runId);
    for (const lookup of lookups) {
      // Planning awaits hashes: a stop may come in between, and run() then returns without this
      // scan, its ledger closed by the caller. Images not planned stay unplanned, as if unscanned.
      if (this.stopping) return;
      await this.planImage(lookup);
    }
    this.observer.scanned(this.images.scanned, false);
    this.pump();
  }

  private async planImage(lookup: ImageLookup): Promise<void> {
    const { ref, image } = lookup;
    if (lookup.repeat) return;
    if (lookup.duplicateOf !== undefined) {
      this.images.duplicateKeys += 1;
      this.observer.warning(`key ${JSON.stringify(ref.key)} is both ${lookup.duplicateOf} and ${ref.path}: the second is skipped (give manifests with ids, or run the folders with separate ledgers)`);
      return;
    }
    this.images.inShard += 1;
    const flags = { force: this.config.force, retryFailed: this.config.retryFailed, artefactsPresent: this.artefactsPresent };
    if (lookup.changed && this.config.tasks.some((task) => worthHashing(task, lookup.jobs.get(task.meta.name), image))) {
      const sha256 = await hashFile(ref.path);
      if (this.stopping) return;
      if (sha256) {
        image.sha256 = sha256;
        this.ledger.setImageSha(image.id, sha256);
      }
    }

    const plan: ImagePlan = {
      imageId: image.id,
      key: ref.key,
      path: ref.path,
      size: image.size,
      mtimeMs: image.mtimeMs,
      open: new Set(),
      done: new Set(),
      failed: new Set(),
      results: new Map(),
      jobs: new Map(),
      suspects: new Set(),
      shaRecorded: image.sha256 !== null,
    };
    for (const task of this.config.tasks) {
      const name = task.meta.name;
      const job = lookup.jobs.get(name);
      let decision = decide(task, job, image, flags);
      // Failed only because a prerequisite failed (E_DEPENDENCY) is no failure of its own: once no
      // prerequisite is failed (done since, or about to run: decided first, being earlier), it runs.
      if (decision === 'failed' && job?.errorCode === 'E_DEPENDENCY' && !task.meta.needs.some((need) => plan.failed.has(need))) decision = 'run';
      if (decision === 'done') {
        plan.done.add(name);
        this.counts[name]!.alreadyDone += 1;
        this.observer.skipped(name, 'done', 1);
        if (lookup.changed && job) this.ledger.refreshJobIdentity(image.id, name, image.size, image.mtimeMs);
      } else if (decision === 'failed') {
        plan.failed.add(name);
        this.counts[name]!.alreadyFailed += 1;
        this.observer.skipped(name, 'failed', 1);
      } else {
        plan.open.add(name);
        if (job?.suspect) plan.suspects.add(name);
        const pending: JobWrite = {
          imageId: image.id,
          task: name,
          state: 'pending',
          attempts: keepsAttempts(task, job, image, flags) ? job!.attempts : 0,
          taskVersion: null,
          optionsHash: null,
          input: undefined,
          resultJson: null,
          vector: null,
          artifacts: [],
          errorCode: null,
          errorMessage: null,
          runId: this.config.runId,
          startedAt: null,
          finishedAt: null,
          durationMs: null,
        };
        plan.jobs.set(name, pending);
        this.ledger.writeJob(pending);
        this.counts[name]!.planned += 1;
        this.observer.planned(name, 1);
      }
    }
    if (plan.open.size === 0) return;
    this.plans.add(plan);
    if (ref.problem) {
      // Nothing to read: every job fails now with the scanner's reason, without a worker.
      for (const task of this.config.tasks) {
        if (plan.open.has(task.meta.name)) this.fail(plan, task, ref.problem.code, ref.problem.message);
      }
      return;
    }
    for (const task of this.config.tasks) this.enqueueIfReady(plan, task.meta.name);
  }

  /** Whether a done job's artefacts are all under this run's --out; the first that is not is told once. */
  private readonly artefactsPresent = (job: JobRow): boolean => {
    const missing = artefactsOf(job).find((artefact) => !existsSync(path.join(this.config.outDir, ...artefact.split('/'))));
    if (missing === undefined) return true;
    if (!this.toldMissingArtefacts) {
      this.toldMissingArtefacts = true;
      this.observer.warning(`done jobs whose artefacts are not under --out ${this.config.outDir} (deleted, moved, or written to another --out) are redone; the first: ${missing}`);
    }
    return false;
  };

  // ---- dispatching --------------------------------------------------------------------------------

  private enqueueIfReady(plan: ImagePlan, name: TaskName): void {
    if (!plan.open.has(name)) return;
    const task = this.tasks.get(name)!;
    const { needs, uses } = this.prerequisites.get(name)!;
    if (needs.some((need) => !plan.done.has(need))) {
      const failedNeed = needs.find((need) => plan.failed.has(need));
      if (failedNeed) this.fail(plan, task, 'E_DEPENDENCY', `prerequisite task ${failedNeed} failed on this image`);
      return;
    }
    // An optional input is waited for, but its failure only means the task runs without it.
    if (uses.some((use) => !plan.done.has(use) && !plan.failed.has(use))) return;
    this.queue(plan, task);
  }

  private queue(plan: ImagePlan, task: TaskRun): void {
    if (plan.suspects.has(task.meta.name)) this.suspects.push({ plan, task });
    else this.ready.get(task.meta.name)!.push(plan);
  }

  /**
   * Starts jobs while the budget allows, taking tasks in turn so that no pool starves another.
   * A task with no job running whose turn comes while too few threads are free keeps its turn,
   * and nothing else starts until enough are: otherwise a task of half-thread jobs would take
   * each half thread as it frees, and a task of whole-thread jobs would wait for the other's
   * queue to empty. A task that has a job running lets the others fill the spare threads.
   */
  private pump(): void {
    if (this.stopping || this.runningAlone) return;
    // A suspect first: nothing new starts until those in flight are done, then it runs alone.
    if (this.suspects.length > 0) {
      if (this.busy()) return;
      const { plan, task } = this.suspects.shift()!;
      this.start(plan, task, true);
      return;
    }
    const tasks = this.config.tasks;
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let i = 0; i < tasks.length; i += 1) {
        const turn = (this.rotation + i) % tasks.length;
        const task = tasks[turn]!;
        const name = task.meta.name;
        const queue = this.ready.get(name)!;
        if (queue.length === 0) continue;
        if (this.inFlight.get(name)! >= task.concurrency) continue;
        if (this.budgetUsed + task.threadsPerJob > this.config.threads) {
          if (this.inFlight.get(name)! > 0) continue;
          this.rotation = turn;
          return;
        }
        this.start(queue.shift()!, task, false);
        progressed = true;
      }
      this.rotation = (this.rotation + 1) % tasks.length;
    }
  }

  private poolFor(task: TaskRun): TaskPool {
    let pool = this.pools.get(task.meta.name);
    if (!pool) {
      const loadTimeoutMs = (task.meta.loadTimeoutSeconds ?? DEFAULT_LOAD_TIMEOUT_SECONDS) * 1000;
      pool = new TaskPool(task.concurrency, { threads: task.threadsPerJob, maxPixels: this.config.maxPixels, config: task.meta.workerConfig }, task.meta.heapMb, loadTimeoutMs);
      this.pools.set(task.meta.name, pool);
    }
    return pool;
  }

  /**
   * `alone`: a suspect, with nothing else in flight. Its start is written before it starts and its
   * end as soon as it ends, so that a suspect found `running` after a death was alone then: the
   * death was its own (Ledger.recoverOrphans).
   */
  private start(plan: ImagePlan, task: TaskRun, alone: boolean): void {
    const name = task.meta.name;
    this.inFlight.set(name, this.inFlight.get(name)! + 1);
    this.budgetUsed += task.threadsPerJob;
    this.runningAlone = alone;
    const job = plan.jobs.get(name)!;
    job.state = 'running';
    job.startedAt = new Date().toISOString();
    // What the try is for, as a failure records it: a job the process dies on too often is failed
    // from this row (E_PROCESS_DIED), and stays failed only while it is current.
    job.taskVersion = task.meta.version;
    job.optionsHash = task.optionsHash;
    job.input ??= plan.size !== null && plan.mtimeMs !== null ? { size: plan.size, mtimeMs: plan.mtimeMs, sha256: null } : undefined;
    this.ledger.writeJob(job);
    if (alone || this.config.recordEachStart) this.ledger.flush();
    const inputs: Record<string, string> = {};
    const vectors: Record<string, Uint8Array> = {};
    const { needs, uses } = this.prerequisites.get(name)!;
    for (const need of [...needs, ...uses.filter((use) => plan.done.has(use))]) {
      if (!plan.results.has(need)) plan.results.set(need, this.ledger.outputOf(plan.imageId, need));
      const output = plan.results.get(need)!;
      inputs[need] = output.result;
      if (output.vector) vectors[need] = output.vector;
    }
    const request = {
      task: name,
      module: task.meta.worker.href,
      key: plan.key,
      path: plan.path,
      options: task.options,
      inputs,
      vectors,
      outDir: this.config.outDir,
    };
    void this.poolFor(task)
      .run(request, task.timeoutMs)
      .then((reply) => this.settle(plan, task, reply))
      .catch((error: unknown) => this.settle(plan, task, { ok: false, code: 'E_WORKER_CRASH', message: String(error), durationMs: 0 }))
      .finally(() => {
        this.inFlight.set(name, this.inFlight.get(name)! - 1);
        this.budgetUsed -= task.threadsPerJob;
        if (alone) {
          this.runningAlone = false;
          this.ledger.flush();
        }
        this.pump();
        this.signal();
      });
  }

  // ---- settling ---------------------------------------------------------------------------------------

  /** Records a finished try (its outcome fields) on the job's row; the caller sets the state. */
  private recordTry(plan: ImagePlan, task: TaskRun, reply: WorkerReply | undefined, counted: boolean): JobWrite {
    const job = plan.jobs.get(task.meta.name)!;
    if (counted) job.attempts += 1;
    job.taskVersion = task.meta.version;
    job.optionsHash = task.optionsHash;
    // A failure before reading still pins the failure to the file as scanned.
    job.input = reply?.input ?? (plan.size !== null && plan.mtimeMs !== null ? { size: plan.size, mtimeMs: plan.mtimeMs, sha256: null } : undefined);
    job.finishedAt = new Date().toISOString();
    job.durationMs = reply?.durationMs ?? 0;
    job.runId = this.config.runId;
    return job;
  }

  private settle(plan: ImagePlan, task: TaskRun, reply: WorkerReply | 'interrupted'): void {
    const name = task.meta.name;
    if (reply === 'interrupted') {
      // Not a try: it goes back to pending as it was.
      const job = plan.jobs.get(name)!;
      job.state = 'pending';
      job.startedAt = null;
      this.ledger.writeJob(job);
      return;
    }
    if (reply.input?.sha256 && !plan.shaRecorded) {
      this.ledger.setImageSha(plan.imageId, reply.input.sha256);
      plan.shaRecorded = true;
    }
    const job = this.recordTry(plan, task, reply, true);
    if (reply.ok) {
      const vector = reply.vector ? vectorBytes(reply.vector) : null;
      Object.assign(job, { state: 'done', resultJson: reply.result, vector, artifacts: reply.artifacts, errorCode: null, errorMessage: null });
      this.ledger.writeJob(job);
      this.counts[name]!.done += 1;
      this.settled(plan, name, true);
      plan.done.add(name);
      if (this.dependents.has(name)) plan.results.set(name, { result: reply.result, vector });
      this.observer.job({ task: name, key: plan.key, path: plan.path, state: 'done', attempt: job.attempts, durationMs: reply.durationMs, bytesRead: reply.input.size, bytesWritten: reply.bytesWritten });
      for (const dependent of this.dependents.get(name) ?? []) this.enqueueIfReady(plan, dependent);
      this.release(plan);
      return;
    }
    const retry = RETRIABLE_CODES.has(reply.code) && job.attempts < this.config.maxAttempts;
    if (retry) {
      Object.assign(job, { state: 'pending', resultJson: null, vector: null, artifacts: [], errorCode: reply.code, errorMessage: reply.message, startedAt: null });
      this.ledger.writeJob(job);
      this.counts[name]!.retries += 1;
      this.observer.job({ task: name, key: plan.key, path: plan.path, state: 'retry', code: reply.code, message: reply.message, attempt: job.attempts, durationMs: reply.durationMs, bytesRead: reply.input?.size });
      // A try that timed out or crashed during a stop's grace period still has attempts left:
      // pending, its try counted, for the next run (failed, it would wait for --retry-failed).
      if (this.stopping) return;
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        if (this.stopping) return;
        this.queue(plan, task);
        this.pump();
      }, retryDelayMs(job.attempts));
      this.retryTimers.add(timer);
      return;
    }
    const message = RETRIABLE_CODES.has(reply.code) ? `${reply.message} (after ${job.attempts} attempts)` : reply.message;
    this.fail(plan, task, reply.code, message, reply);
  }

  /**
   * Records a final failure, and fails the jobs on this image that needed it. Without a reply
   * (nothing to read, a prerequisite failed) no try happened, so no attempt is counted.
   */
  private fail(plan: ImagePlan, task: TaskRun, code: ErrorCode, message: string, reply?: WorkerReply): void {
    const name = task.meta.name;
    const job = reply ? plan.jobs.get(name)! : this.recordTry(plan, task, undefined, false);
    Object.assign(job, { state: 'failed', resultJson: null, vector: null, artifacts: [], errorCode: code, errorMessage: message });
    this.ledger.writeJob(job);
    this.counts[name]!.failed += 1;
    // Quoted: a key may hold a newline, and the summary prints this on one line.
    const byCode = (this.failures[code] ??= { count: 0, example: `${JSON.stringify(plan.key)}: ${message}` });
    byCode.count += 1;
    this.settled(plan, name, reply !== undefined);
    plan.failed.add(name);
    this.observer.job({ task: name, key: plan.key, path: plan.path, state: 'failed', code, message, attempt: job.attempts, durationMs: job.durationMs ?? 0, bytesRead: reply?.input?.size });
    for (const dependent of this.dependents.get(name) ?? []) this.enqueueIfReady(plan, dependent);
    this.release(plan);
  }

  /**
   * A job has its final state in this run. A suspect that ran to an end (done, or failed by a try)
   * is one no longer; one failed without running (a prerequisite failed) stays one.
   */
  private settled(plan: ImagePlan, name: TaskName, tried: boolean): void {
    plan.open.delete(name);
    if (tried && plan.suspects.delete(name)) this.ledger.clearSuspect(plan.imageId, name);
  }

  private release(plan: ImagePlan): void {
    if (plan.open.size > 0) return;
    this.plans.delete(plan);
    this.signal();
  }

  // ---- waiting ------------------------------------------------------------------------------------------

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.wake;
      this.wake = () => {
        previous?.();
        resolve();
      };
    });
  }

  private busy(): boolean {
    for (const n of this.inFlight.values()) if (n > 0) return true;
    return false;
  }

  /** After a stop: give in-flight jobs the grace period, then abandon the rest as pending. */
  private async drain(): Promise<void> {
    const deadline = Date.now() + this.config.graceMs;
    while (this.busy() && Date.now() < deadline) {
      const timer = setTimeout(() => this.signal(), Math.max(10, deadline - Date.now()));
      await this.nextChange();
      clearTimeout(timer);
    }
    if (this.busy()) {
      for (const pool of this.pools.values()) pool.interrupt();
      while (this.busy()) await this.nextChange();
    }
  }
}

