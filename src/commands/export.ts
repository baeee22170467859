/** `imgpipe export`: one record per (image, task), as JSON lines or CSV. */
import { Command, Option } from 'commander';
import { closeSync, fchmodSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { once } from 'node:events';
import { UsageError } from '../errors.js';
import { temporaryBeside } from '../runtime/atomic-write.js';
import { parseChoice, parseWritableFile } from '../validate.js';
import { checkTaskFlag, dbOption, examples } from './common.js';
import { artifactsText, csvCell } from './csv-cells.js';
import { letSignalsIn, onInterrupt } from './interruption.js';
import type { JobRecord } from '../pipeline/ledger-queries.js';

const CSV_COLUMNS = ['key', 'path', 'sha256', 'task', 'state', 'attempts', 'taskVersion', 'errorCode', 'errorMessage', 'startedAt', 'finishedAt', 'durationMs', 'artifacts', 'result'] as const;

/** A stored vector as base64 of its float32 little-endian bytes: lossless, a third the size of JSON numbers. */
function vectorText(vector: Buffer | null | undefined): string | null {
  return vector ? vector.toString('base64') : null;
}

function toJsonl(record: JobRecord, vectors: boolean): string {
  const { errorCode, errorMessage, vector, ...rest } = record;
  return `${JSON.stringify({ ...rest, error: errorCode ? { code: errorCode, message: errorMessage } : null, ...(vectors ? { vector: vectorText(vector) } : {}) })}\n`;
}

function toCsv(record: JobRecord, vectors: boolean, raw: boolean): string {
  const cells = CSV_COLUMNS.map((column) => csvCell(column === 'artifacts' ? artifactsText(record.artifacts) : record[column], raw));
  if (vectors) cells.push(csvCell(vectorText(record.vector), raw));
  return `${cells.join(',')}\n`;
}

/**
 * The --output file, written synchronously in large pieces: a failing write (a full disk) then
 * throws where it happens, as one line, where a write stream's error would leave the export
 * waiting forever for a 'drain' or 'finish' that never comes.
 *
 * It is written whole or not at all: into a hidden temporary file beside it, renamed over it at
 * the end. A script (cron, a CI step) that reads the file after an export that failed or was
 * stopped finds the earlier export, or none, never the first half of this one looking complete.
 */
class OutputFile {
  /** Where the bytes go first: a temporary file, or the output itself when it cannot be replaced. */
  private readonly temporary: string | undefined;
  /** The file renamed over: a link's target, so that the link stays. */
  private readonly target: string;
  private readonly fd: number;
  private pending: string[] = [];
  private pendingLength = 0;
  private closed = false;

  constructor(private readonly file: string) {
    const existing = statSync(file, { throwIfNoEntry: false });
    // A device or a pipe (--output /dev/stdout, a FIFO) is written as it is: renaming over it would replace it.
    this.target = existing && !existing.isFile() ? file : existing ? realpathSync(file) : file;
    this.temporary = existing && !existing.isFile() ? undefined : temporaryBeside(this.target);
    this.fd = this.attempt(() => openSync(this.temporary ?? file, 'w'));
    // The file replaced keeps its permissions, as it would had it been rewritten in place.
    if (this.temporary && existing) this.attempt(() => fchmodSync(this.fd, existing.mode & 0o7777));
  }

  /** As a stream's write, but it never asks the caller to wait for a 'drain'. */
  write(text: string): true {
    this.pending.push(text);
    this.pendingLength += text.length;
    if (this.pendingLength >= 1 << 16) this.flush();
    return true;
  }

  close(): void {
    this.flush();
    this.attempt(() => closeSync(this.fd));
    this.closed = true;
    if (this.temporary) this.attempt(() => renameSync(this.temporary!, this.target));
  }

  /** Drops what was written: the file keeps what it held before. */
  discard(): void {
    if (!this.closed) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed by a failed close(): the temporary file is removed all the same.
      }
    }
    if (this.temporary) rmSync(this.temporary, { force: true });
  }

  private flush(): void {
    const bytes = Buffer.from(this.pending.join(''));
    this.pending = [];
    this.pendingLength = 0;
    let offset = 0;
    while (offset < bytes.length) offset += this.attempt(() => writeSync(this.fd, bytes, offset));
  }

  private attempt<T>(action: () => T): T {
    try {
      return action();
    } catch (error) {
      throw new UsageError(`--output: cannot write ${this.file} (${(error as Error).message})`);
    }
  }
}

export function exportCommand(): Command {
  return new Command('export')
    .summary('write one record per (image, task) with result, error and timings')
    .description(
      // One line a paragraph: commander wraps it to the terminal's width.
      'One record per (image, task) with result, error, timings and artefacts, as JSON lines or CSV.\n\n' +
        "CSV is written for spreadsheets: a text cell that starts with =, +, -, @, TAB or CR, which a spreadsheet would run as a formula " +
        "(keys and paths are file names, chosen by whoever made the file), gets a leading ' and reads as text; numbers stay numbers. " +
        '--csv-raw writes text exactly as stored, for programs (pandas, csvkit).\n\n' +
        "CSV's artifacts cell holds a job's one artefact path as it is, or a JSON array of paths when it has several.",
    )
    .addOption(dbOption())
    .addOption(new Option('--format <format>', 'jsonl or csv').default('jsonl'))
    .option('--task <task>', 'only this task')
    .option('--state <state>', 'only jobs in this state: pending, running, done or failed')
    .option('--output <file>', 'write here instead of stdout, whole or not at all (an interrupted or failed export leaves the file as it was)')
    .option('--vectors', "also write each job's vector (the embed task's embedding) as base64 of its float32 little-endian bytes")
    .option('--csv-raw', "CSV for a program (pandas, csvkit): text exactly as stored, without the leading ' (do not open it in a spreadsheet)")
    .addHelpText(
      'after',
      examples([
        'imgpipe export > results.jsonl',
        'imgpipe export --format csv --task meta --output meta.csv',
        "imgpipe export --format csv --task ocr --output ocr.csv             # for a spreadsheet: '=HYPERLINK(...).jpg",
        'imgpipe export --format csv --task ocr --csv-raw --output ocr.csv   # for pandas or csvkit: =HYPERLINK(...).jpg',
        'imgpipe export --state failed | jq -r .path',
        'imgpipe export --task embed --vectors > embeddings.jsonl',
      ]),
    )
    .action(async (flags: { db: string; format: string; task?: string; state?: string; output?: string; vectors?: boolean; csvRaw?: boolean }) => {
      const vectors = flags.vectors === true;
      const raw = flags.csvRaw === true;
      const format = parseChoice('--format', flags.format, ['jsonl', 'csv'] as const);
      // JSON lines hold text as it is: --csv-raw would do nothing there, and more likely --format csv was forgotten.
      if (raw && format !== 'csv') throw new UsageError('--csv-raw applies to --format csv; add --format csv, or drop --csv-raw');
      const state = flags.state === undefined ? undefined : parseChoice('--state', flags.state, ['pending', 'running', 'done', 'failed'] as const);
      if (flags.output !== undefined) parseWritableFile('--output', flags.output);
      const { Ledger } = await import('../pipeline/ledger.js');
      const { iterateJobs } = await import('../pipeline/ledger-queries.js');
      const ledger = Ledger.openForRead(flags.db);
      try {
        if (flags.task !== undefined) await checkTaskFlag('--task', flags.task, ledger);
        // Ctrl-C or SIGTERM: the half-written temporary file goes, the --output file stays as it was.
        let file: OutputFile | undefined;
        const unregister = onInterrupt(() => {
          file?.discard();
          return file ? `--output ${flags.output} left as it was` : undefined;
        });
        try {
          // Created only now, once every usage error has had its chance: a refused export leaves no file.
          file = flags.output === undefined ? undefined : new OutputFile(flags.output);
          const out = file ?? process.stdout;
          if (format === 'csv') out.write(`${[...CSV_COLUMNS, ...(vectors ? ['vector'] : [])].join(',')}\n`);
          let records = 0;
          for (const record of iterateJobs(ledger.db, { task: flags.task, state, vectors })) {
            if (!out.write(format === 'csv' ? toCsv(record, vectors, raw) : toJsonl(record, vectors))) await once(process.stdout, 'drain');
            // Writing a file (or stdout redirected to one) never waits: let a signal in now and then.
            records += 1;
            if (records % 1000 === 0) await yieldToEvents();
          }
          // A signal heard during the export stops it before the file replaces the earlier one.
          if (file) await letSignalsIn();
          file?.close();
        } catch (error) {
          file?.discard();
          throw error;
        } finally {
          unregister();
        }
      } finally {
        ledger.close();
      }
    });
}
