/**
 * One piscina pool per task, like one service per task: its own threads, its own size, its
 * own failures. A worker that dies, outgrows its heap limit or runs past its time limit is
 * replaced by piscina; the job comes back here as a failure with a retriable code.
 */
import { Piscina } from 'piscina';
import { messageOf } from '../errors.js';
import { oneLine } from '../runtime/failure.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

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
  /** For utilization: when the first job started, time spent in jobs, and when the pool ended. */
  private startedAt: number | undefined;
  private busyMs = 0;
  private endedAt: number | undefined;

  constructor(
    readonly size: number,
    private readonly workerData: WorkerData,
    private readonly heapMb: number = DEFAULT_HEAP_MB,
  ) {}

  /** Threads start on the first job, so a run with nothing to do starts none. */
  private ensure(): Piscina {
    this.startedAt ??= performance.now();
    this.pool ??= new Piscina({
      filename: WORKER_ENTRY,
      // More threads start only when jobs wait for one: a pool that is rarely busy stays small.
      minThreads: 1,
      maxThreads: this.size,
      idleTimeout: 30_000,
      concurrentTasksPerWorker: 1,
      workerData: this.workerData,
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
    });
    return this.pool;
  }

  /** Runs one job; its controller carries both its time limit and an interruption. */
  async run(request: WorkerRequest, timeoutMs: number): Promise<WorkerReply | 'interrupted'> {
    const started = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    this.running.add(controller);
    try {
      return (await this.ensure().run(request, { signal: controller.signal })) as WorkerReply;
    } catch (error) {
      if (this.interrupted || this.destroyed) return 'interrupted';
      const durationMs = performance.now() - started;
      if (timedOut) {
        // The limit as given (--timeout meta=0.1 says 0.1 s, not 0 s), to the millisecond timers keep.
        return { ok: false, code: 'E_TIMEOUT', message: `no result after ${Number((timeoutMs / 1000).toFixed(3))} s; the worker was stopped`, durationMs };
      }
      return { ok: false, code: 'E_WORKER_CRASH', message: `worker died: ${oneLine(messageOf(error))}`, durationMs };
    } finally {
      this.busyMs += performance.now() - started;
      clearTimeout(timer);
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
