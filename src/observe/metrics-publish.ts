/**
 * Gets a run's metrics out: a Prometheus text file rewritten atomically (node_exporter's
 * textfile collector reads it) and pushes to a Pushgateway, every few seconds and once at the
 * end. Neither may fail the run: a problem is reported once, and the run goes on.
 */
import { Pushgateway, type Registry } from 'prom-client';
import { replaceFileSync } from '../runtime/atomic-write.js';

export interface PublishTargets {
  /** `--metrics-file`. */
  file: string | undefined;
  /** `--pushgateway` with its job name and grouping labels. */
  push: { url: string; job: string; grouping: Record<string, string> } | undefined;
  intervalMs: number;
}

/** A push that hangs must not hold the run's end for long. */
const PUSH_TIMEOUT_MS = 5_000;

/**
 * The Pushgateway takes label values in the URL path; one with a `/` (a shard `3/8`) must be
 * base64url-encoded and its name suffixed `@base64` (the Pushgateway's own convention).
 */
function pushGrouping(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([name, value]) => [`${name}@base64`, Buffer.from(value).toString('base64url')]));
}

export class MetricsPublisher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly gateway: Pushgateway<'text/plain; version=0.0.4; charset=utf-8'> | undefined;
  private readonly warned = new Set<'file' | 'push'>();

  constructor(
    private readonly registry: Registry,
    private readonly targets: PublishTargets,
    private readonly warn: (message: string) => void,
  ) {
    if (targets.push) this.gateway = new Pushgateway(targets.push.url, { timeout: PUSH_TIMEOUT_MS }, registry as Registry<'text/plain; version=0.0.4; charset=utf-8'>);
  }

  /** Publishes now, then every interval; the timer never keeps the process alive. */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.targets.intervalMs);
    this.timer.unref();
  }

  /** The last publication, after the one in flight: it carries the final counts and end time. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    await this.publish();
  }

  /** A slow gateway skips ticks rather than piling up requests. */
  private tick(): void {
    this.inFlight ??= this.publish().finally(() => (this.inFlight = undefined));
  }

  private async publish(): Promise<void> {
    await Promise.all([this.writeFile(), this.push()]);
  }

  private async writeFile(): Promise<void> {
    const file = this.targets.file;
    if (!file) return;
    const text = await this.registry.metrics();
    try {
      // Renamed into place, so that the collector never reads half a file.
      replaceFileSync(file, text);
    } catch (error) {
      this.warnOnce('file', `--metrics-file ${file}: cannot write it (${(error as Error).message}); the run goes on without it`);
    }
  }

  private async push(): Promise<void> {
    const push = this.targets.push;
    if (!push || !this.gateway) return;
    try {
      // PUT: the group's metrics are replaced by this run's, whole.
      await this.gateway.push({ jobName: push.job, groupings: pushGrouping(push.grouping) });
    } catch (error) {
      this.warnOnce('push', `--pushgateway ${push.url}: push failed (${(error as Error).message}); the run goes on, pushes are retried quietly`);
    }
  }

  private warnOnce(target: 'file' | 'push', message: string): void {
    if (this.warned.has(target)) return;
    this.warned.add(target);
    this.warn(message);
  }
}
