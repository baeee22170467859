/**
 * How a run shows itself: bars on a terminal, a plain line every few seconds in CI logs,
 * JSON-lines events for scripts (`--json`), or nothing (`--quiet`).
 */
import cliProgress from 'cli-progress';
import type { TaskName } from '../tasks/contract.js';
import { JsonLinesWriter } from './json-lines.js';
import type { JobEvent, RunObserver } from './scheduler.js';

export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

export function chooseProgressMode(flags: { json: boolean; quiet: boolean }, stderrIsTty: boolean): ProgressMode {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  return stderrIsTty && process.env.TERM !== 'dumb' ? 'tty' : 'plain';
}

interface TaskProgress {
  planned: number;
  done: number;
  failed: number;
  skipped: number;
}

const PLAIN_INTERVAL_MS = 5_000;
/** Failures are listed one by one up to this many; past it the summary and `imgpipe status` tell the rest. */
const FAILURES_SHOWN = 20;

export class Progress implements RunObserver {
  private readonly tasks = new Map<TaskName, TaskProgress>();
  private readonly started = Date.now();
  private scannedImages = 0;
  private scanDone = false;
  private failuresShown = 0;
  private timer: NodeJS.Timeout | undefined;
  private multibar: cliProgress.MultiBar | undefined;
  private readonly bars = new Map<TaskName, cliProgress.SingleBar>();
  private readonly events: JsonLinesWriter;

  constructor(
    readonly mode: ProgressMode,
    taskNames: readonly TaskName[],
    stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {
    this.events = new JsonLinesWriter(stdout);
    for (const name of taskNames) this.tasks.set(name, { planned: 0, done: 0, failed: 0, skipped: 0 });
  }

  /** Emits a JSON-lines event (json mode only); job events are batched, the rest go out at once. */
  event(type: string, fields: object): void {
    if (this.mode !== 'json') return;
    this.events.write({ event: type, time: new Date().toISOString(), ...fields }, type === 'job');
  }

  begin(fields: object): void {
    this.event('run-start', fields);
    if (this.mode === 'tty') {
      const width = Math.max(...[...this.tasks.keys()].map((name) => name.length));
      this.multibar = new cliProgress.MultiBar(
        {
          format: `{task} {bar} {value}/{total}{more} {rate}/s ETA {remaining} failed {failed}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          etaBuffer: 50,
          fps: 5,
          stream: this.stderr as NodeJS.WriteStream,
        },
        cliProgress.Presets.shades_classic,
      );
      for (const name of this.tasks.keys()) {
        this.bars.set(name, this.multibar.create(0, 0, { task: name.padEnd(width), more: '+', rate: '0.0', remaining: '--', failed: 0 }));
      }
    }
    if (this.mode === 'plain' || this.mode === 'json') {
      this.timer = setInterval(() => this.periodic(), PLAIN_INTERVAL_MS);
      this.timer.unref();
    }
  }

  scanned(images: number, finished: boolean): void {
    this.scannedImages = images;
    if (!finished) return;
    this.scanDone = true;
    this.refresh();
  }

  planned(task: TaskName, jobs: number): void {
    this.tasks.get(task)!.planned += jobs;
    this.refresh(task);
  }

  skipped(task: TaskName, _state: 'done' | 'failed', jobs: number): void {
    this.tasks.get(task)!.skipped += jobs;
  }

  job(event: JobEvent): void {
    const progress = this.tasks.get(event.task)!;
    if (event.state === 'done') progress.done += 1;
    if (event.state === 'failed') progress.failed += 1;
    this.event('job', event);
    if (event.state === 'failed' && (this.mode === 'tty' || this.mode === 'plain')) {
      if (this.failuresShown < FAILURES_SHOWN) this.log(`failed: ${event.task} ${event.key}: ${event.code} ${event.message ?? ''}`);
      else if (this.failuresShown === FAILURES_SHOWN) this.log('more failures: see imgpipe status and imgpipe export --state failed');
      this.failuresShown += 1;
    }
    this.refresh(event.task);
  }

  warning(message: string): void {
    this.event('warning', { message });
    if (this.mode !== 'json') this.log(`warning: ${message}`);
  }

  private log(line: string): void {
    if (this.multibar) this.multibar.log(`${line}\n`);
    else if (this.mode !== 'json') this.stderr.write(`imgpipe: ${line}\n`);
  }

  private refresh(task?: TaskName): void {
    if (!this.multibar) return;
    const seconds = Math.max((Date.now() - this.started) / 1000, 0.001);
    for (const [name, progress] of this.tasks) {
      if (task !== undefined && name !== task) continue;
      const settled = progress.done + progress.failed;
      this.bars.get(name)!.setTotal(progress.planned);
      const rate = settled / seconds;
      // Only once the scan has found every job and some have settled: before that it would be a guess (cli-progress's own printed "NFs").
      const eta = this.scanDone && rate > 0 ? etaText((progress.planned - settled) / rate) : '--';
      this.bars.get(name)!.update(settled, { more: this.scanDone ? '' : '+', rate: rate.toFixed(1), remaining: eta, failed: progress.failed });
    }
  }

  private snapshot() {
    const seconds = (Date.now() - this.started) / 1000;
    const tasks = Object.fromEntries([...this.tasks].map(([name, p]) => [name, { ...p }]));
    const settled = [...this.tasks.values()].reduce((sum, p) => sum + p.done + p.failed, 0);
    return { elapsedSeconds: Math.round(seconds * 10) / 10, scannedImages: this.scannedImages, scanning: !this.scanDone, jobsPerSecond: Math.round((settled / Math.max(seconds, 0.001)) * 10) / 10, tasks };
  }

  private periodic(): void {
    const snap = this.snapshot();
    this.event('progress', snap);
    if (this.mode !== 'plain') return;
    const parts = Object.entries(snap.tasks).map(
      ([name, p]) => `${name} ${p.done + p.failed}/${p.planned}${snap.scanning ? '+' : ''}${p.failed ? ` (${p.failed} failed)` : ''}`,
    );
    this.stderr.write(`imgpipe: ${snap.elapsedSeconds}s ${parts.join(' | ')} | ${snap.jobsPerSecond} jobs/s${snap.scanning ? ` | scanned ${snap.scannedImages}` : ''}\n`);
  }

  end(): void {
    this.events.flush();
    if (this.timer) clearInterval(this.timer);
    if (this.multibar) {
      this.refresh();
      this.multibar.stop();
    }
  }
}

/** Seconds left as a person reads them: 42s, 12m05s, 3h04m. */
export function etaText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
