/**
 * JSON-lines output written in batches, for `--json` events and `--log-format json`: a pipe or
 * file write is a system call, and one per job would cost more than the rest of a job's
 * bookkeeping.
 */
const BATCH_LINES = 512;
const BATCH_MS = 100;

export class JsonLinesWriter {
  private lines: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WritableStream) {}

  /** Queues one record as a line; unless `batch`, writes it and all queued before it at once. */
  write(record: object, batch: boolean): void {
    this.lines.push(JSON.stringify(record));
    if (!batch || this.lines.length >= BATCH_LINES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    this.out.write(`${this.lines.join('\n')}\n`);
    this.lines = [];
  }
}
