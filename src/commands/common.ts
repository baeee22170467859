/**
 * Pieces the commands share: the --db and --model-card options, the check of a --task flag
 * against a ledger, the version, and how output reads (counts, tables, help examples).
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import { UsageError } from '../errors.js';
import type { Ledger } from '../pipeline/ledger.js';
import { parsePath } from '../validate.js';

export const DEFAULT_DB = './imgpipe.db';

export function dbOption(): Option {
  return new Option('--db <file>', 'the ledger (SQLite)').default(DEFAULT_DB).argParser((value: string) => parsePath('--db', value, 'a file path'));
}

/**
 * `--model-card <file>`, repeatable. The cards are read before parsing (src/cli.ts), since they
 * add tasks and flags; the option is declared so that commander accepts it and shows it in help.
 */
export function modelCardOption(): Option {
  return new Option('--model-card <file>', 'add a task from a model card (JSON describing an ONNX model); repeatable').argParser(
    (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
  );
}

/**
 * A task named by a flag of a command that reads a ledger: a built-in task, or one the ledger
 * has jobs of (a model card's task, which this build may not know). Anything else is a typo,
 * which would otherwise select nothing and exit 0 as if there were nothing to find.
 */
export async function checkTaskFlag(flag: string, task: string, ledger: Ledger): Promise<void> {
  const [{ findTask }, { hasJobsOf, ledgerTasks }] = await Promise.all([import('../tasks/registry.js'), import('../pipeline/ledger-queries.js')]);
  if (findTask(task) || hasJobsOf(ledger.db, task)) return;
  const inLedger = ledgerTasks(ledger.db);
  throw new UsageError(
    `${flag}: unknown task '${task}': not a built-in task (see imgpipe tasks) and ledger ${ledger.file} has no jobs of it` +
      (inLedger.length > 0 ? ` (its tasks: ${inLedger.join(', ')})` : ''),
  );
}

export function imgpipeVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** "1 job", "2 jobs": a count with its noun, as people write it ("1 jobs failed" reads as a slip). */
export function counted(count: number, noun: string, plural = `${noun}s`): string {
  return `${count} ${count === 1 ? noun : plural}`;
}

/** Left-aligned text columns; numbers right-aligned. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => row[column]!.length)));
  return cells
    .map((row, r) =>
      row
        .map((cell, column) => (r > 0 && typeof rows[r - 1]![column] === 'number' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Help text sections: examples shown under every command's --help. */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}\n`;
}
