/**
 * One piscina pool per task, like one service per task: its own threads, its own size, its
 * own failures. A worker that dies or runs past its time limit is replaced by piscina; the
 * job comes back here as a failure with a retriable code.
 */
import { Piscina } from 'piscina';
import { oneLine } from '../runtime/failure.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

const WORKER_ENTRY = new URL('./worker.js', import.meta.url).href;

export class TaskPool {
  private pool: Piscina | undefined;
  private destroyed = false;
  private interrupted = false;
  private readonly running = new Set<AbortController>();

  constructor(
    readonly size: number,
    private readonly threadsPerJob: number,
    private readonly config?: unknown,
  ) {}

  /** Threads start on the first job, so a run with nothing to do starts none. */
  private ensure(): Piscina {
    this.pool ??= new Piscina({
      filename: WORKER_ENTRY,
      // More threads start only when jobs wait for one: a pool that is rarely busy stays small.
      minThreads: 1,
      maxThreads: this.size,
      idleTimeout: 30_000,
      concurrentTasksPerWorker: 1,
      workerData: { threads: this.threadsPerJob, config: this.config } satisfies WorkerData,
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
        return { ok: false, code: 'E_TIMEOUT', message: `no result after ${Math.round(timeoutMs / 1000)} s; the worker was stopped`, durationMs };
      }
      return { ok: false, code: 'E_WORKER_CRASH', message: `worker died: ${oneLine((error as Error)?.message ?? String(error))}`, durationMs };
    } finally {
      clearTimeout(timer);
      this.running.delete(controller);
    }
  }

  /** Abandons the jobs in flight (their workers are stopped); they come back as 'interrupted'. */
  interrupt(): void {
    this.interrupted = true;
    for (const controller of this.running) controller.abort();
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.pool?.destroy();
  }
}
