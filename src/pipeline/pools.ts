/**
 * One piscina pool per task, like one service per task: its own threads, its own size, its
 * own failures. A worker that dies or runs past its time limit is replaced by piscina; the
 * job comes back here as a failure with a retriable code.
 */
import { Piscina } from 'piscina';
import type { TaskMeta } from '../tasks/contract.js';
import { oneLine } from '../runtime/failure.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

const WORKER_ENTRY = new URL('./worker.js', import.meta.url).href;

export class TaskPool {
  private pool: Piscina | undefined;
  private destroyed = false;

  constructor(
    readonly task: TaskMeta,
    readonly size: number,
    private readonly threadsPerJob: number,
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
      workerData: { threads: this.threadsPerJob } satisfies WorkerData,
    });
    return this.pool;
  }

  /**
   * Runs one job. One controller per job carries both its time limit and a stop: cheaper than
   * combining signals per job, and nothing stays attached to a long-lived signal afterwards.
   */
  async run(request: WorkerRequest, timeoutMs: number, stop: AbortSignal): Promise<WorkerReply | 'interrupted'> {
    const started = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onStop = (): void => controller.abort();
    stop.addEventListener('abort', onStop, { once: true });
    try {
      return (await this.ensure().run(request, { signal: controller.signal })) as WorkerReply;
    } catch (error) {
      if (stop.aborted || this.destroyed) return 'interrupted';
      const durationMs = performance.now() - started;
      if (timedOut) {
        return { ok: false, code: 'E_TIMEOUT', message: `no result after ${Math.round(timeoutMs / 1000)} s; the worker was stopped`, durationMs };
      }
      return { ok: false, code: 'E_WORKER_CRASH', message: `worker died: ${oneLine((error as Error)?.message ?? String(error))}`, durationMs };
    } finally {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
    }
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    await this.pool?.destroy();
  }
}
