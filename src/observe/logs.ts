/**
 * `--log-format json`: one JSON object per line for log pipelines (Loki, Elasticsearch,
 * CloudWatch), on stderr or in `--log-file`. Job lines are written in batches, as `--json`
 * events are.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { ErrorCode } from '../errors.js';
import { JsonLinesWriter } from '../pipeline/json-lines.js';
import type { JobEvent, RunObserver } from '../pipeline/scheduler.js';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export type LogEvent = 'run_start' | 'job_done' | 'job_failed' | 'job_retry' | 'warning' | 'run_end';

/** One line of the JSON log. Fields that do not apply to an event are left out. */
export interface LogRecord {
  time: string;
  level: 'info' | 'warn' | 'error';
  run: number;
  shard: string | null;
  event: LogEvent;
  task?: string;
  key?: string;
  attempt?: number;
  duration_ms?: number;
  code?: ErrorCode;
  message?: string;
  [field: string]: unknown;
}

/**
 * Where log lines go: `--log-file` (appended, written synchronously so that nothing is lost on
 * exit) or stderr.
 */
export interface LogSink {
  stream: NodeJS.WritableStream;
  close(): void;
}

export function openLogSink(file: string | undefined): LogSink {
  if (!file) return { stream: process.stderr, close: () => undefined };
  const fd = openSync(file, 'a');
  let failed = false;
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!failed) {
        try {
          writeSync(fd, chunk);
          callback();
          return;
        } catch (error) {
          // A full disk or a lost mount must not stop the run (its results go to the ledger), nor
          // lose the log in silence: say so once, and go on logging to stderr.
          failed = true;
          process.stderr.write(`imgpipe: warning: cannot write the log file ${file} (${(error as Error).message}); logging to stderr from now on\n`);
        }
      }
      process.stderr.write(chunk, () => callback());
    },
  });
  return { stream, close: () => closeSync(fd) };
}

/** Swallows what it is given: progress output when the JSON log owns stderr. */
export function discard(): NodeJS.WritableStream {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

export class JsonLog implements RunObserver {
  private readonly lines: JsonLinesWriter;
  private readonly flushOnExit = (): void => this.lines.flush();

  constructor(
    out: NodeJS.WritableStream,
    private readonly context: { run: number; shard: string | null },
  ) {
    this.lines = new JsonLinesWriter(out);
    // A second Ctrl-C exits at once: what is buffered still gets out.
    process.on('exit', this.flushOnExit);
  }

  private write(level: LogRecord['level'], event: LogEvent, fields: Partial<LogRecord>, batch = false): void {
    const record: LogRecord = { time: new Date().toISOString(), level, run: this.context.run, shard: this.context.shard, event, ...fields };
    this.lines.write(record, batch);
  }

  begin({ runId: _run, shard: _shard, ...fields }: Record<string, unknown>): void {
    this.write('info', 'run_start', { message: 'run started', ...fields });
  }

  job(event: JobEvent): void {
    const fields: Partial<LogRecord> = { task: event.task, key: event.key, attempt: event.attempt, duration_ms: event.durationMs };
    if (event.state === 'done') this.write('info', 'job_done', fields, true);
    else this.write(event.state === 'failed' ? 'error' : 'warn', event.state === 'failed' ? 'job_failed' : 'job_retry', { ...fields, code: event.code, message: event.message }, true);
  }

  warning(message: string): void {
    this.write('warn', 'warning', { message });
  }

  /** The last line; stops listening. */
  end(fields: Record<string, unknown> & { status: string; duration_ms: number }): void {
    this.write(fields.status === 'completed' ? 'info' : 'warn', 'run_end', { message: `run ${fields.status}`, ...fields });
    process.off('exit', this.flushOnExit);
  }

  scanned(): void {}
  planned(): void {}
  skipped(): void {}
}
