/**
 * One piscina pool per task, like one service per task: its own threads, its own size, its
 * own failures. A worker that dies, outgrows its heap limit or runs past its time limit is
 * replaced by piscina; the job comes back here as a failure with a retriable code.
 *
 * A worker's first job of the task carries the task's load allowance on top of its time limit:
 * the thread starts, the task's module and models load and the first inference warms up inside
 * it. Later jobs have the plain limit, from the moment the worker tells of a warm start. Counted
 * in the limit, the load made a tight limit (--timeout nsfw=1, to bound the time per image) fail
 * every job: each new worker's first job timed out, and its replacement started cold again.
 */
import { Piscina } from 'piscina';
import { messageOf } from '../errors.js';
import { oneLine } from '../runtime/failure.js';
import { DEFAULT_LOAD_TIMEOUT_SECONDS } from '../tasks/contract.js';
import { isWarmStart, type WorkerData, type WorkerReply, type WorkerRequest } from './worker-protocol.js';

const WORKER_ENTRY = new URL('./worker.js', import.meta.url).href;

/**
 * V8 heap of one worker when the task sets none: far above what any task needs (models live in
 * WebAssembly memory and image pixels in buffers, neither counted here), so it stops only a
 * runaway allocation, which then kills that worker alone instead of the whole process.
 */
const DEFAULT_HEAP_MB = 1024;

export class TaskPool {
  private pool: Piscina | undefined;
  private destroyed = false;
  private interrupted = false;
  private readonly running = new Set<AbortController>();
  /** Per job in flight: what puts it on its plain time limit when its worker starts it warm. */
  private readonly warmStarts = new Map<number, () => void>();
  private lastJob = 0;
  /** For utilization: when the first job started, time spent in jobs, and when the pool ended. */
  private startedAt: number | undefined;
  private busyMs = 0;
  private endedAt: number | undefined;

  constructor(
    readonly size: number,
    private readonly workerData: WorkerData,
    private readonly heapMb: number = DEFAULT_HEAP_MB,
    private readonly loadTimeoutMs: number = DEFAULT_LOAD_TIMEOUT_SECONDS * 1000,
  ) {}

  /** Threads start on the first job, so a run with nothing to do starts none. */
  private ensure(): Piscina {
    if (this.pool) return this.pool;
    this.startedAt = performance.now();
    this.pool = new Piscina({
      filename: WORKER_ENTRY,
      // More threads start only when jobs wait for one: a pool that is rarely busy stays small.
      minThreads: 1,
      maxThreads: this.size,
      idleTimeout: 30_000,
      concurrentTasksPerWorker: 1,
      workerData: this.workerData,
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    // A worker's own messages (not piscina's) arrive here: WarmStart is the only one.
    this.pool.on('message', (message: unknown) => {
      if (isWarmStart(message)) this.warmStarts.get(message.warmStart)?.();
    });
    return this.pool;
  }

  /**
   * Runs one job; its controller carries both its time limit and an interruption. The WarmStart
   * may come after the reply (it travels on another port): the job is gone by then.
   */
  async run(request: Omit<WorkerRequest, 'job'>, timeoutMs: number): Promise<WorkerReply | 'interrupted'> {
    const started = performance.now();
    const job = (this.lastJob += 1);
    const controller = new AbortController();
    let expired: 'first' | 'warm' | undefined;
    let timer = setTimeout(() => {
      expired = 'first';
      controller.abort();
    }, this.loadTimeoutMs + timeoutMs);
    this.warmStarts.set(job, () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        expired = 'warm';
        controller.abort();
      }, timeoutMs);
    });
    this.running.add(controller);
    try {
      return (await this.ensure().run({ ...request, job }, { signal: controller.signal })) as WorkerReply;
    } catch (error) {
      if (this.interrupted || this.destroyed) return 'interrupted';
      const durationMs = performance.now() - started;
      // The limits as given (--timeout meta=0.1 says 0.1 s, not 0 s), to the millisecond timers keep.
      if (expired === 'warm') {
        return { ok: false, code: 'E_TIMEOUT', message: `no result ${seconds(timeoutMs)} s after the job started; the worker was stopped`, durationMs };
      }
      if (expired === 'first') {
        const message = `no result after ${seconds(this.loadTimeoutMs + timeoutMs)} s, the time limit (${seconds(timeoutMs)} s) plus ${seconds(this.loadTimeoutMs)} s for a new worker to start and load the task; the worker was stopped`;
        return { ok: false, code: 'E_TIMEOUT', message, durationMs };
      }
      return { ok: false, code: 'E_WORKER_CRASH', message: `worker died: ${oneLine(messageOf(error))}`, durationMs };
    } finally {
      this.busyMs += performance.now() - started;
      clearTimeout(timer);
      this.warmStarts.delete(job);
      this.running.delete(controller);
    }
  }

  /** Abandons the jobs in flight (their workers are stopped); they come back as 'interrupted'. */
  interrupt(): void {
    this.interrupted = true;
    for (const controller of this.running) controller.abort();
  }

  /**
   * Mean busy fraction of the pool's threads from its first job to now (or to its end): time in
   * finished jobs over size x elapsed time; 0 before the first job. (Piscina 5's own
   * `utilization` mixes milliseconds and seconds, hence this.)
   */
  get utilization(): number {
    if (this.startedAt === undefined) return 0;
    const elapsed = (this.endedAt ?? performance.now()) - this.startedAt;
    return elapsed > 0 ? Math.min(1, this.busyMs / (this.size * elapsed)) : 0;
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    this.endedAt ??= performance.now();
    await this.pool?.destroy();
  }
}

function seconds(ms: number): number {
  return Number((ms / 1000).toFixed(3));
}
