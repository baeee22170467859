/**
 * Builds the commander program from src/commands/ and maps every outcome to an exit code:
 * 0 done, 1 some items failed, 2 usage error (before any work), 130 interrupted.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, Interrupted, messageOf, UsageError } from './errors.js';
import { letSignalsIn, stopAtOnceOnSignals } from './commands/interruption.js';
import { oneLine } from './runtime/failure.js';
import { imgpipeVersion, examples } from './commands/common.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { exportCommand } from './commands/export.js';
import { mergeCommand } from './commands/merge.js';
import { tasksCommand } from './commands/tasks.js';
import { modelsCommand } from './commands/models.js';
import { duplicatesCommand } from './commands/duplicates.js';
import { reportCommand } from './commands/report.js';
import { modelCardArguments, refuseAlteredCards, registerModelCards } from './tasks/custom/load.js';

function buildProgram(): Command {
  const program = new Command('imgpipe')
    .description('Resumable, shardable batch processing of images with AI tasks, recorded in a SQLite ledger.')
    .version(imgpipeVersion(), '-V, --version')
    .addHelpText(
      'after',
      examples([
        'npx imgpipe run fixtures/photos --tasks preprocess,meta',
        'imgpipe status',
        'imgpipe export --format csv --task meta --output meta.csv',
        'imgpipe merge all.db shard-*.db',
        'imgpipe tasks',
        'imgpipe models verify',
        'imgpipe duplicates --distance 8',
        'imgpipe report --html report/',
      ]),
    );
  for (const command of [runCommand(), statusCommand(), exportCommand(), mergeCommand(), tasksCommand(), modelsCommand(), duplicatesCommand(), reportCommand()]) {
    program.addCommand(command);
  }
  program.hook('preAction', (_program, action) => {
    if (action.name() !== 'models' && action.parent?.name() !== 'models') refuseAlteredCards();
  });
  // Commander exits 1 on its own errors; ours must be 2, and only from one place. Its messages
  // ("error: unknown option '--foo'") get the prefix of every other usage error, and each
  // sub-command the help hint: commands made apart and then added inherit none of this.
  const override = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({ outputError: (text, write) => write(`imgpipe: ${text}`) });
    command.showHelpAfterError('(add --help for usage)');
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

/**
 * A ledger that opened fine can still fail later: damage in a page read only now, a disk that
 * fills, a file made read-only under a running process. Those are the ledger's problems, not
 * imgpipe's: a one-line message and exit 2, like the same problems found when opening it.
 */
function ledgerProblem(error: unknown): string | undefined {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: string };
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const detail = oneLine(message ?? code);
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return `the ledger (--db) is corrupted (${detail}); restore a copy or start a new ledger with --db`;
  if (code === 'SQLITE_FULL') return `the ledger's disk is full (${detail}); free space and run again: what the ledger recorded is kept, the rest is redone`;
  if (code.startsWith('SQLITE_READONLY')) return `the ledger (--db) became read-only (${detail}); check its permissions and its folder's`;
  return `the ledger (--db) failed: ${code} (${detail})`;
}

function describe(error: unknown): string {
  return process.env.IMGPIPE_DEBUG ? String((error as Error)?.stack ?? error) : messageOf(error);
}

/**
 * The one line a failure ends a command with, and its exit code: 2 for a usage error or a
 * ledger's problem, 1 for anything else (imgpipe's own fault).
 */
function reportFailure(error: unknown): number {
  const problem = error instanceof UsageError ? error.message : ledgerProblem(error);
  process.stderr.write(problem ? `imgpipe: error: ${problem}\n` : `imgpipe: internal error: ${describe(error)}\n`);
  return problem ? ExitCode.usage : ExitCode.someFailed;
}

export async function main(argv: string[]): Promise<void> {
  await dispatch(argv);
  // A signal that came during a command's last synchronous stretch (a long query) is acted on
  // now, not lost as the process ends: the command was interrupted, its exit is 130.
  await letSignalsIn();
}

async function dispatch(argv: string[]): Promise<void> {
  // Ctrl-C or SIGTERM: exit 130 from every command, never death by the signal (see interruption.ts).
  stopAtOnceOnSignals();
  // `imgpipe export | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  // The ledger also writes from timers (batched results, the lock's heartbeat), outside any
  // command's control flow: a failure there (a full disk, a ledger deleted under the run) ends
  // the run as a kill would, since nothing more can be recorded, but with one line and exit 2
  // rather than a stack trace.
  process.on('uncaughtException', (error) => process.exit(reportFailure(error)));
  try {
    // Model cards define tasks and their flags: registered before the command line is parsed.
    const cards = modelCardArguments(argv.slice(2));
    if (cards.length > 0) await registerModelCards(cards);
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof Interrupted) {
      process.stderr.write(`imgpipe: ${error.message}\n`);
      process.exitCode = ExitCode.interrupted;
      return;
    }
    if (error instanceof CommanderError) {
      // Commander's 0 is help or the version asked for (--help, `imgpipe help`, --version); the
      // rest are usage errors, the help shown on stderr for a command line that names no command
      // (`imgpipe` alone, `imgpipe help frob`) included, as git and most CLIs do.
      process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    process.exitCode = reportFailure(error);
  }
}
