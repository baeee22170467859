/**
 * A run's Prometheus metrics, in a registry of its own (never prom-client's global one). Job
 * events feed the counters and the duration histogram; gauges (ledger states, queues, pools) are
 * read from the scheduler only when the metrics are rendered, so a job costs a few increments.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskName } from '../tasks/contract.js';
import type { JobEvent, RunObserver, TaskStats } from '../pipeline/scheduler.js';

/** 1 ms (a `meta` job on a thumbnail) to a minute (a large page through OCR). */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the gauges are read from: the scheduler, once it exists. */
export interface StatsSource {
  stats(): Record<TaskName, TaskStats>;
}

export interface MetricsIdentity {
  /** `I/N`; `1/1` when the run is not sharded, so that every series carries the label. */
  shard: string;
  runId: number;
  version: string;
}

const LEDGER_STATES = ['pending', 'running', 'done', 'failed'] as const;

export class RunMetrics implements RunObserver {
  readonly registry = new Registry();
  private source: StatsSource | undefined;
  private readonly jobs: Counter<'task' | 'state'>;
  private readonly retries: Counter<'task'>;
  private readonly duration: Histogram<'task'>;
  private readonly bytesRead: Counter<'task'>;
  private readonly bytesWritten: Counter<'task'>;
  private readonly startTime: Gauge;
  private readonly endTime: Gauge;

  constructor(
    tasks: readonly TaskName[],
    identity: MetricsIdentity,
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ shard: identity.shard });
    this.jobs = new Counter({ name: 'imgpipe_jobs_total', help: 'Jobs this process settled, by task and final state (done, failed).', labelNames: ['task', 'state'], registers });
    this.retries = new Counter({ name: 'imgpipe_job_retries_total', help: 'Tries that timed out or crashed their worker and were retried.', labelNames: ['task'], registers });
    this.duration = new Histogram({
      name: 'imgpipe_job_duration_seconds',
      help: 'Time of done jobs in their worker: reading the image and running the task.',
      labelNames: ['task'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.bytesRead = new Counter({ name: 'imgpipe_read_bytes_total', help: 'Bytes of images read by jobs (each task reads the image once).', labelNames: ['task'], registers });
    this.bytesWritten = new Counter({ name: 'imgpipe_written_bytes_total', help: 'Bytes of artefacts written under --out.', labelNames: ['task'], registers });
    const stats = (): Record<TaskName, TaskStats> => this.source?.stats() ?? {};
    new Gauge({
      name: 'imgpipe_ledger_jobs',
      help: "Jobs of the images scanned so far by state, those settled by earlier runs included: the shard's progress.",
      labelNames: ['task', 'state'],
      registers,
      collect() {
        for (const [task, s] of Object.entries(stats())) {
          const done = s.counts.done + s.counts.alreadyDone;
          const failed = s.counts.failed + s.counts.alreadyFailed;
          const values = { pending: s.counts.planned - s.counts.done - s.counts.failed - s.running, running: s.running, done, failed };
          for (const state of LEDGER_STATES) this.set({ task, state }, values[state]);
        }
      },
    });
    const perTask = (name: string, help: string, value: (s: TaskStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['task'],
        registers,
        collect() {
          for (const [task, s] of Object.entries(stats())) this.set({ task }, value(s));
        },
      });
    };
    perTask('imgpipe_queue_depth', 'Jobs ready to run, waiting for a worker or for the thread budget.', (s) => s.queued);
    perTask('imgpipe_pool_workers', "Size of the task's worker pool (--concurrency).", (s) => s.poolSize);
    perTask('imgpipe_pool_busy_workers', 'Workers running a job now.', (s) => s.running);
    perTask('imgpipe_pool_utilization_ratio', "Mean busy fraction of the pool's workers from its first job to now.", (s) => s.utilization);
    this.startTime = new Gauge({ name: 'imgpipe_run_start_time_seconds', help: 'When the run started, in Unix seconds.', registers });
    this.endTime = new Gauge({ name: 'imgpipe_run_end_time_seconds', help: 'When the run ended, in Unix seconds; 0 while it runs.', registers });
    new Gauge({ name: 'imgpipe_run_info', help: "The run: its id in the ledger (runs table) and imgpipe's version.", labelNames: ['run_id', 'version'], registers }).set(
      { run_id: String(identity.runId), version: identity.version },
      1,
    );
    // Every series exists from the start: rate() needs its zero, and a dashboard its row.
    for (const task of tasks) {
      for (const state of ['done', 'failed']) this.jobs.inc({ task, state }, 0);
      this.retries.inc({ task }, 0);
      this.duration.zero({ task });
      this.bytesRead.inc({ task }, 0);
      this.bytesWritten.inc({ task }, 0);
    }
  }

  watch(source: StatsSource): void {
    this.source = source;
  }

  begin(startedMs: number): void {
    this.startTime.set(startedMs / 1000);
  }

  end(endedMs: number): void {
    this.endTime.set(endedMs / 1000);
  }

  job(event: JobEvent): void {
    const task = { task: event.task };
    if (event.bytesRead) this.bytesRead.inc(task, event.bytesRead);
    if (event.state === 'retry') {
      this.retries.inc(task);
      return;
    }
    this.jobs.inc({ task: event.task, state: event.state });
    if (event.state === 'done') {
      this.duration.observe(task, event.durationMs / 1000);
      if (event.bytesWritten) this.bytesWritten.inc(task, event.bytesWritten);
    }
  }

  scanned(): void {}
  planned(): void {}
  skipped(): void {}
  warning(): void {}
}
