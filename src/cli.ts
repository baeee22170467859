/**
 * Builds the commander program from src/commands/ and maps every outcome to an exit code:
 * 0 done, 1 some items failed, 2 usage error (before any work), 130 interrupted.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, UsageError } from './errors.js';
import { imgpipeVersion, examples } from './commands/common.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';
import { exportCommand } from './commands/export.js';
import { mergeCommand } from './commands/merge.js';
import { tasksCommand } from './commands/tasks.js';
import { modelsCommand } from './commands/models.js';
import { duplicatesCommand } from './commands/duplicates.js';
import { modelCardArguments, registerModelCards } from './tasks/custom/load.js';

export function buildProgram(): Command {
  const program = new Command('imgpipe')
    .description('Resumable, shardable batch processing of images with AI tasks, recorded in a SQLite ledger.')
    .version(imgpipeVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
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
      ]),
    );
  for (const command of [runCommand(), statusCommand(), exportCommand(), mergeCommand(), tasksCommand(), modelsCommand(), duplicatesCommand()]) {
    program.addCommand(command);
  }
  // Commander exits 1 on its own errors; ours must be 2, and only from one place.
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `imgpipe export | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  try {
    // Model cards define tasks and their flags: registered before the command line is parsed.
    const cards = modelCardArguments(argv.slice(2));
    if (cards.length > 0) await registerModelCards(cards);
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      const quiet = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help';
      process.exitCode = quiet ? ExitCode.ok : ExitCode.usage;
      return;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`imgpipe: error: ${error.message}\n`);
      process.exitCode = ExitCode.usage;
      return;
    }
    process.stderr.write(`imgpipe: internal error: ${process.env.IMGPIPE_DEBUG ? (error as Error).stack : (error as Error)?.message ?? String(error)}\n`);
    process.exitCode = ExitCode.someFailed;
  }
}
