/**
 * Everything that watches a run, behind the scheduler's one RunObserver: progress (bars, plain
 * lines, `--json` events), the JSON log, and metrics with their file and Pushgateway. Each is
 * created only when asked for, so a run without metrics or JSON logs pays nothing for them (the
 * scheduler talks to the progress display directly, and prom-client is never loaded).
 */
import { hostname } from 'node:os';
import type { TaskName } from '../tasks/contract.js';
import type { JobEvent, RunObserver } from '../pipeline/scheduler.js';
import { chooseProgressMode, Progress } from '../pipeline/progress.js';
import { discard, JsonLog, openLogSink, type LogFormat, type LogSink } from './logs.js';
import type { StatsSource, RunMetrics } from './metrics.js';
import type { MetricsPublisher } from './metrics-publish.js';

export interface TelemetrySettings {
  json: boolean;
  quiet: boolean;
  metricsFile: string | undefined;
  pushgateway: string | undefined;
  metricsJob: string;
  metricsIntervalSeconds: number;
  logFormat: LogFormat;
  logFile: string | undefined;
}

export interface RunIdentity {
  runId: number;
  /** `I/N`, or null when the run is not sharded. */
  shard: string | null;
  tasks: readonly TaskName[];
  version: string;
}

export interface RunOutcome {
  status: 'completed' | 'interrupted' | 'failed';
  durationMs: number;
  exitCode?: number;
  jobs?: { done: number; failed: number; retries: number; alreadyDone: number; alreadyFailed: number };
  error?: string;
}

export class Telemetry {
  /** What the scheduler reports to: the progress display itself when nothing else listens. */
  readonly observer: RunObserver;
  private ended = false;

  private constructor(
    readonly progress: Progress,
    private readonly log: { json: JsonLog | undefined; sink: LogSink },
    private readonly metrics: { metrics: RunMetrics; publisher: MetricsPublisher } | undefined,
  ) {
    const listeners: RunObserver[] = [progress, ...(log.json ? [log.json] : []), ...(metrics ? [metrics.metrics] : [])];
    this.observer = listeners.length === 1 ? progress : fanOut(listeners);
  }

  static async open(settings: TelemetrySettings, run: RunIdentity): Promise<Telemetry> {
    const sink = openLogSink(settings.logFile);
    const json = settings.logFormat === 'json' ? new JsonLog(sink.stream, { run: run.runId, shard: run.shard }) : undefined;
    // Human lines (progress, warnings) go where the log goes in text format. The JSON log owns
    // its stream: on stderr, there are no human lines at all (warnings are in the log).
    const jsonOnStderr = settings.logFormat === 'json' && !settings.logFile;
    const human = settings.logFormat === 'text' ? sink.stream : jsonOnStderr ? discard() : process.stderr;
    const onTerminal = human === process.stderr && (process.stderr.isTTY ?? false);
    const mode = chooseProgressMode({ json: settings.json, quiet: settings.quiet || jsonOnStderr }, onTerminal);
    const progress = new Progress(mode, run.tasks, process.stdout, human);

    let metrics: Telemetry['metrics'];
    if (settings.metricsFile || settings.pushgateway) {
      const [{ RunMetrics }, { MetricsPublisher }] = await Promise.all([import('./metrics.js'), import('./metrics-publish.js')]);
      const shard = run.shard ?? '1/1';
      const runMetrics = new RunMetrics(run.tasks, { shard, runId: run.runId, version: run.version });
      const push = settings.pushgateway ? { url: settings.pushgateway, job: settings.metricsJob, grouping: { shard } } : undefined;
      const publisher = new MetricsPublisher(runMetrics.registry, { file: settings.metricsFile, push, intervalMs: settings.metricsIntervalSeconds * 1000 }, (message) =>
        telemetry.observer.warning(message),
      );
      metrics = { metrics: runMetrics, publisher };
    }
    const telemetry = new Telemetry(progress, { json, sink }, metrics);
    return telemetry;
  }

  /** The gauges (queues, pools, ledger states) are read from here. */
  watch(source: StatsSource): void {
    this.metrics?.metrics.watch(source);
  }

  begin(startedMs: number, fields: Record<string, unknown>): void {
    const context = { ...fields, host: hostname() };
    this.progress.begin(context);
    this.log.json?.begin(context);
    if (this.metrics) {
      this.metrics.metrics.begin(startedMs);
      this.metrics.publisher.start();
    }
  }

  /**
   * The last metrics (end time, final counts) and the last log line. Called once, on every way
   * out of a run (done, interrupted, failed), after the progress display has ended.
   */
  async end(outcome: RunOutcome): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    if (this.metrics) {
      this.metrics.metrics.end(Date.now());
      await this.metrics.publisher.stop();
    }
    const jobs = outcome.jobs;
    this.log.json?.end({
      status: outcome.status,
      duration_ms: outcome.durationMs,
      ...(outcome.exitCode !== undefined ? { exit_code: outcome.exitCode } : {}),
      ...(jobs ? { done: jobs.done, failed: jobs.failed, retries: jobs.retries, already_done: jobs.alreadyDone, already_failed: jobs.alreadyFailed } : {}),
      ...(outcome.error ? { message: `run failed: ${outcome.error}` } : {}),
    });
    this.log.sink.close();
  }
}

function fanOut(listeners: readonly RunObserver[]): RunObserver {
  return {
    scanned: (images: number, finished: boolean) => listeners.forEach((l) => l.scanned(images, finished)),
    planned: (task: TaskName, jobs: number) => listeners.forEach((l) => l.planned(task, jobs)),
    skipped: (task: TaskName, state: 'done' | 'failed', jobs: number) => listeners.forEach((l) => l.skipped(task, state, jobs)),
    job: (event: JobEvent) => listeners.forEach((l) => l.job(event)),
    warning: (message: string) => listeners.forEach((l) => l.warning(message)),
  };
}
