/** `imgpipe export`: one record per (image, task), as JSON lines or CSV. */
import { Command, Option } from 'commander';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseChoice } from '../validate.js';
import { dbOption, examples } from './common.js';
import type { JobRecord } from '../pipeline/ledger-queries.js';

const CSV_COLUMNS = ['key', 'path', 'sha256', 'task', 'state', 'attempts', 'taskVersion', 'errorCode', 'errorMessage', 'startedAt', 'finishedAt', 'durationMs', 'artifacts', 'result'] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toJsonl(record: JobRecord): string {
  const { errorCode, errorMessage, ...rest } = record;
  return `${JSON.stringify({ ...rest, error: errorCode ? { code: errorCode, message: errorMessage } : null })}\n`;
}

function toCsv(record: JobRecord): string {
  return `${CSV_COLUMNS.map((column) => csvCell(column === 'artifacts' ? record.artifacts.join(' ') : record[column])).join(',')}\n`;
}

export function exportCommand(): Command {
  return new Command('export')
    .summary('write one record per (image, task) with result, error and timings')
    .addOption(dbOption())
    .addOption(new Option('--format <format>', 'jsonl or csv').default('jsonl'))
    .option('--task <task>', 'only this task')
    .option('--state <state>', 'only jobs in this state: pending, running, done or failed')
    .option('--output <file>', 'write here instead of stdout')
    .addHelpText(
      'after',
      examples([
        'imgpipe export > results.jsonl',
        'imgpipe export --format csv --task meta --output meta.csv',
        'imgpipe export --state failed | jq -r .path',
      ]),
    )
    .action(async (flags: { db: string; format: string; task?: string; state?: string; output?: string }) => {
      const format = parseChoice('--format', flags.format, ['jsonl', 'csv'] as const);
      const state = flags.state === undefined ? undefined : parseChoice('--state', flags.state, ['pending', 'running', 'done', 'failed'] as const);
      const { Ledger } = await import('../pipeline/ledger.js');
      const { iterateJobs } = await import('../pipeline/ledger-queries.js');
      const ledger = Ledger.openForRead(flags.db);
      const out = flags.output ? createWriteStream(flags.output) : process.stdout;
      try {
        if (format === 'csv') out.write(`${CSV_COLUMNS.join(',')}\n`);
        for (const record of iterateJobs(ledger.db, { task: flags.task, state })) {
          if (!out.write(format === 'csv' ? toCsv(record) : toJsonl(record))) await once(out, 'drain');
        }
      } finally {
        ledger.close();
        if (flags.output) {
          out.end();
          await once(out, 'finish');
        }
      }
    });
}
