/** `imgpipe export`: one record per (image, task), as JSON lines or CSV. */
import { Command, Option } from 'commander';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseChoice, parseWritableFile } from '../validate.js';
import { dbOption, examples } from './common.js';
import type { JobRecord } from '../pipeline/ledger-queries.js';

const CSV_COLUMNS = ['key', 'path', 'sha256', 'task', 'state', 'attempts', 'taskVersion', 'errorCode', 'errorMessage', 'startedAt', 'finishedAt', 'durationMs', 'artifacts', 'result'] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A stored vector as base64 of its float32 little-endian bytes: lossless, a third the size of JSON numbers. */
function vectorText(vector: Buffer | null | undefined): string | null {
  return vector ? vector.toString('base64') : null;
}

function toJsonl(record: JobRecord, vectors: boolean): string {
  const { errorCode, errorMessage, vector, ...rest } = record;
  return `${JSON.stringify({ ...rest, error: errorCode ? { code: errorCode, message: errorMessage } : null, ...(vectors ? { vector: vectorText(vector) } : {}) })}\n`;
}

function toCsv(record: JobRecord, vectors: boolean): string {
  const cells = CSV_COLUMNS.map((column) => csvCell(column === 'artifacts' ? record.artifacts.join(' ') : record[column]));
  if (vectors) cells.push(csvCell(vectorText(record.vector)));
  return `${cells.join(',')}\n`;
}

export function exportCommand(): Command {
  return new Command('export')
    .summary('write one record per (image, task) with result, error and timings')
    .addOption(dbOption())
    .addOption(new Option('--format <format>', 'jsonl or csv').default('jsonl'))
    .option('--task <task>', 'only this task')
    .option('--state <state>', 'only jobs in this state: pending, running, done or failed')
    .option('--output <file>', 'write here instead of stdout')
    .option('--vectors', "also write each job's vector (the embed task's embedding) as base64 of its float32 little-endian bytes")
    .addHelpText(
      'after',
      examples([
        'imgpipe export > results.jsonl',
        'imgpipe export --format csv --task meta --output meta.csv',
        'imgpipe export --state failed | jq -r .path',
        'imgpipe export --task embed --vectors > embeddings.jsonl',
      ]),
    )
    .action(async (flags: { db: string; format: string; task?: string; state?: string; output?: string; vectors?: boolean }) => {
      const vectors = flags.vectors === true;
      const format = parseChoice('--format', flags.format, ['jsonl', 'csv'] as const);
      const state = flags.state === undefined ? undefined : parseChoice('--state', flags.state, ['pending', 'running', 'done', 'failed'] as const);
      const output = flags.output === undefined ? undefined : parseWritableFile('--output', flags.output);
      const { Ledger } = await import('../pipeline/ledger.js');
      const { iterateJobs } = await import('../pipeline/ledger-queries.js');
      const ledger = Ledger.openForRead(flags.db);
      const out = output ? createWriteStream(output) : process.stdout;
      try {
        if (format === 'csv') out.write(`${[...CSV_COLUMNS, ...(vectors ? ['vector'] : [])].join(',')}\n`);
        for (const record of iterateJobs(ledger.db, { task: flags.task, state, vectors })) {
          if (!out.write(format === 'csv' ? toCsv(record, vectors) : toJsonl(record, vectors))) await once(out, 'drain');
        }
      } finally {
        ledger.close();
        if (output) {
          out.end();
          await once(out, 'finish');
        }
      }
    });
}
