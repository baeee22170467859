/** `imgpipe run`: scan inputs, keep this shard, and run the tasks, resumably. */
import { Command, Option } from 'commander';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ExitCode, messageOf } from '../errors.js';
import { DEFAULT_MAX_PIXELS } from '../runtime/limits.js';
import { DEFAULT_LOAD_TIMEOUT_SECONDS } from '../tasks/contract.js';
import { allTasks } from '../tasks/registry.js';
import { classifyInputs, IMAGE_EXTENSIONS, scanInputs, type InputSpec, type ScanProblem } from '../pipeline/sources.js';
import type { Ledger, OrphanRecovery } from '../pipeline/ledger.js';
import { peakRssMb } from '../observe/peak-memory.js';
import type { Telemetry } from '../observe/telemetry.js';
import { formatShard, SHARD_INDEX_VARIABLES } from '../pipeline/shard.js';
import { DEFAULT_DB, examples, imgpipeVersion, modelCardOption } from './common.js';
import {
  DEFAULT_METRICS_INTERVAL_SECONDS,
  DEFAULT_METRICS_JOB,
  DEFAULT_OUT,
  DEFAULT_TASKS,
  negatedFlag,
  resolveRunSettings,
  taskOptionFlag,
  type RunSettings,
} from './run-settings.js';
import { printRunSummary, runCounts, type RunReport } from './run-summary.js';
import { Interruption } from './interruption.js';

/** How long in-flight jobs may finish after Ctrl-C before they are abandoned (and stay pending). */
const GRACE_MS = 5_000;

/**
 * A list flag given again adds to the list (`-c ocr=2 -c nsfw=1`, or a wrapper script appending
 * its own), as one list would; commander alone would keep only the last, and so drop a task
 * (`--tasks`), a gate (`--fail-on`) or a limit unseen.
 */
function joinLists(value: string, previous: string | undefined): string {
  return previous === undefined ? value : `${previous},${value}`;
}

export function runCommand(): Command {
  const command = new Command('run')
    .summary('process images: scan inputs and run tasks, resumably')
    .description(
      // One line a paragraph: commander wraps it to the terminal (hard breaks left stumps).
      'Scans the inputs, records every image in the ledger and runs the tasks on each, in per-task ' +
        'worker pools. Interrupt it at any moment: the next run with the same ledger does exactly ' +
        'what is missing. Finished jobs are not redone unless the image, the task version or its ' +
        'options changed.\n\n' +
        `Inputs: directories (recursive; ${IMAGE_EXTENSIONS.join(' ')}), files, globs ` +
        "(quote them), manifests (.txt one path per line; .jsonl {\"path\", \"id\"}; .csv with a 'path' " +
        "column and optional 'id'; paths relative to the manifest) and - for paths on stdin.",
    )
    .argument('[inputs...]', 'directories, files, globs, manifests, or - for stdin')
    .option('-t, --tasks <list>', `comma-separated tasks; repeatable (default: ${DEFAULT_TASKS.join(',')}; see imgpipe tasks)`, joinLists)
    .option('--db <file>', `the ledger (default: ${DEFAULT_DB})`)
    .option('-o, --out <dir>', `where artefacts are written, as DIR/<task>/<key>; an input folder may be neither DIR nor inside DIR/<task> of a task of the run (default: ${DEFAULT_OUT})`)
    .option('-c, --concurrency <task=N,...>', 'worker threads per task pool; repeatable (default: each task\'s own, within --threads)', joinLists)
    .option('--threads <n>', 'total thread budget for all pools (default: the number of cores)')
    .option('--shard <i/n>', 'process only shard I of N (1-based); shards are stable across machines')
    .option('--shard-count <n>', `process shard (${SHARD_INDEX_VARIABLES.join(' or ')}) + 1 of N`)
    .option('--retry-failed', 'run again the jobs that failed before')
    // Each --no- form after its option: commander then sets neither a default, so without both a
    // config file's value counts, and a flag beats it either way.
    .option('--no-retry-failed', "leave failed jobs failed (over a config file's retryFailed)")
    .option('--force', 'redo every job, even those already done')
    .option('--no-force', "redo only what is missing (over a config file's force)")
    .option('--max-attempts <n>', 'attempts for a job that times out or crashes its worker, and deaths of the whole process while it runs alone before it fails E_PROCESS_DIED (default: 3)')
    .option('--timeout <task=seconds,...>', `per-job time limit per task; repeatable (default: each task's own); a worker's first job of a task has ${DEFAULT_LOAD_TIMEOUT_SECONDS} s more, to load it (a model card's loadTimeoutSeconds)`, joinLists)
    .option('--max-pixels <n>', `refuse images with more pixels (width x height), before decoding (default: ${DEFAULT_MAX_PIXELS})`)
    .option('--follow-symlinks', 'follow symbolic links while scanning (default: skip them)')
    .option('--no-follow-symlinks', "skip symbolic links (over a config file's followSymlinks)")
    .option('--fail-on <tasks>', 'exit 3 when one of these tasks flags an image (nsfw): a gate for CI; repeatable', joinLists)
    .option('--json', 'JSON-lines events on stdout instead of progress and summary')
    .option('--no-json', "progress and summary, not events (over a config file's json)")
    .option('-q, --quiet', 'no progress and no summary; the exit code tells')
    .option('--no-quiet', "progress and summary (over a config file's quiet)")
    .option('--metrics-file <file>', 'Prometheus metrics, rewritten atomically every few seconds and at the end (name it *.prom for node_exporter)')
    .option('--pushgateway <url>', 'push the same metrics to this Prometheus Pushgateway, grouped by job and shard')
    .option('--metrics-job <name>', `the Pushgateway's job label (default: ${DEFAULT_METRICS_JOB})`)
    .option('--metrics-interval <seconds>', `how often metrics are written and pushed (default: ${DEFAULT_METRICS_INTERVAL_SECONDS})`)
    .option('--log-format <format>', 'text (progress and warnings for people) or json (one object per line, no progress bars) (default: text)')
    .option('--log-file <file>', 'append the log here instead of stderr')
    .option('--config <file>', "JSON file with any of these options (camelCase keys; paths relative to the current folder, as flags); flags win (a --no- flag over a config's true); options of a task not in the run are ignored, with a warning")
    .addOption(modelCardOption());
  for (const task of allTasks()) {
    for (const [name, spec] of Object.entries(task.options)) {
      const choices = spec.type === 'enum' ? ` (${spec.values.join('|')})` : '';
      // An empty default means "none" (a folder to give): printing "(default: )" says nothing.
      const fallback = spec.type === 'string' && spec.required ? ' (required)' : spec.default === '' ? '' : ` (default: ${String(spec.default)})`;
      const option = new Option(`${taskOptionFlag(task, name)} <value>`, `${task.name}: ${spec.description}${choices}${fallback}`);
      command.addOption(option);
      // As the run's own booleans: the --no- form after the option, for a config file's true.
      if (spec.type === 'boolean') command.addOption(new Option(negatedFlag(taskOptionFlag(task, name)), `${task.name}: not ${taskOptionFlag(task, name)} (over a config file's true)`));
    }
  }
  command.addHelpText(
    'after',
    examples([
      'imgpipe run ./photos --tasks preprocess,meta',
      'imgpipe run ./photos --tasks preprocess --preprocess-max-size 512 --preprocess-format webp',
      'imgpipe run list.csv --tasks meta --db catalogue.db --json > events.jsonl',
      "imgpipe run 'shop/**/*.png' --tasks meta --shard 3/8 --db shard-3.db",
      'find /data -name "*.jpg" | imgpipe run - --tasks meta',
      'imgpipe run ./photos --tasks meta --retry-failed',
      'imgpipe run ./uploads --tasks nsfw --fail-on nsfw --nsfw-threshold 0.7',
      'imgpipe run ./photos --model-card my-classifier.json --tasks meta,my-classifier',
      'imgpipe run ./photos --tasks meta --metrics-file /var/lib/node_exporter/textfile/imgpipe.prom',
      'imgpipe run ./photos --tasks meta --shard-count 8 --pushgateway http://pushgateway:9091',
      'imgpipe run ./photos --tasks meta --log-format json 2> run.jsonl',
      '',
      'Exit codes: 0 every job done, 1 some failed, 2 usage error, 3 an image flagged (--fail-on),',
      '130 interrupted.',
    ]),
  );
  command.action(async (inputs: string[], flags: Record<string, unknown>) => {
    process.exitCode = await run(inputs, flags);
  });
  return command;
}

async function run(cliInputs: string[], flags: Record<string, unknown>): Promise<number> {
  const settings = resolveRunSettings(cliInputs, flags, process.env);
  const specs = classifyInputs(settings.inputs, process.cwd(), { path: settings.out, tasks: settings.tasks.map((task) => task.meta.name) });
  // Native libraries read these once, process-wide; our pools already split the cores.
  process.env.OMP_THREAD_LIMIT ??= '1';
  // From here on a signal stops the run in order (exit 130), however early or late it comes.
  const interruption = new Interruption();
  try {
    return await runLocked(settings, specs, interruption);
  } finally {
    interruption.dispose();
  }
}

async function runLocked(settings: RunSettings, specs: InputSpec[], interruption: Interruption): Promise<number> {
  // Heavy modules load only now, so that --help and usage errors stay instant.
  const [{ Ledger, RUN_PAGE_CACHE_KB }, { Telemetry }] = await Promise.all([import('../pipeline/ledger.js'), import('../observe/telemetry.js')]);
  const ledger = Ledger.openForWrite(settings.db, { pageCacheKb: RUN_PAGE_CACHE_KB });
  try {
    ledger.acquireLock();
  } catch (error) {
    ledger.db.close();
    throw error;
  }
  const started = Date.now();
  const runId = ledger.startRun({
    argv: process.argv.slice(2),
    cwd: process.cwd(),
    tasks: settings.tasks.map((task) => task.meta.name),
    shard: formatShard(settings.shard),
    version: imgpipeVersion(),
  });
  // Every way out but a kill ends the run's row and releases the lock: a run stopped by an error
  // must not look still running (status), nor leave its lock. process.exit (a second Ctrl-C, an
  // error in a timer) skips the catch below, hence the exit hook.
  const abandon = (status: 'failed' | 'interrupted'): void => {
    if (!ledger.db.open) return;
    try {
      ledger.flush();
      // No process runs them any more: pending for the next run (not suspects: nothing died).
      ledger.resetOrphans();
      ledger.finishRun(runId, status, Date.now() - started, null);
      ledger.close();
    } catch {
      // The ledger may be what failed (a full disk): the next run takes the lock over, as after a kill.
    }
  };
  interruption.atExit((code) => abandon(code === ExitCode.interrupted ? 'interrupted' : 'failed'));
  let telemetry: Telemetry | undefined;
  try {
    const orphans = ledger.recoverOrphans(settings.maxAttempts);
    telemetry = await Telemetry.open(settings, { runId, shard: formatShard(settings.shard), tasks: settings.tasks.map((task) => task.meta.name), version: imgpipeVersion() });
    return await execute({ settings, specs, ledger, runId, started, orphans, telemetry, interruption });
  } catch (error) {
    abandon('failed');
    // Metrics and the log still say how it ended: the run's end time and a last line.
    await telemetry?.end({ status: 'failed', durationMs: Date.now() - started, error: messageOf(error) });
    throw error;
  }
}

/** A run whose ledger is open and locked, and whose telemetry is set up. */
interface RunContext {
  settings: RunSettings;
  specs: InputSpec[];
  ledger: Ledger;
  runId: number;
  started: number;
  /** Jobs left running by a process that died: suspects again pending, or failed E_PROCESS_DIED. */
  orphans: OrphanRecovery;
  telemetry: Telemetry;
  interruption: Interruption;
}

async function execute({ settings, specs, ledger, runId, started, orphans, telemetry, interruption }: RunContext): Promise<number> {
  const { Scheduler } = await import('../pipeline/scheduler.js');
  const { progress, observer } = telemetry;
  const problems: ScanProblem[] = [];
  const scheduler = new Scheduler(
    ledger,
    {
      runId,
      tasks: settings.tasks,
      threads: settings.threads,
      maxAttempts: settings.maxAttempts,
      retryFailed: settings.retryFailed,
      force: settings.force,
      outDir: path.resolve(settings.out),
      shard: settings.shard,
      graceMs: GRACE_MS,
      maxPixels: settings.maxPixels,
      recordEachStart: ledger.previousRunDied,
    },
    observer,
  );
  telemetry.watch(scheduler);

  telemetry.begin(started, { runId, db: settings.db, out: settings.out, tasks: settings.tasks.map((t) => t.meta.name), shard: formatShard(settings.shard), threads: settings.threads });
  // A signal received while the run was starting stops it here, before a job starts.
  interruption.onStop((signal) => {
    observer.warning(`${signal}: stopping; jobs in flight get ${GRACE_MS / 1000} s, the rest stay pending (again to quit at once)`);
    scheduler.stop();
  });
  // Options of a shared config file that this run's tasks do not use (see resolveRunSettings).
  for (const message of settings.warnings) observer.warning(message);
  // An array job's copies that were not told to shard each do all the work, and their ledgers overlap.
  const indexVariable = settings.shard ? undefined : SHARD_INDEX_VARIABLES.find((name) => (process.env[name] ?? '') !== '');
  if (indexVariable) {
    observer.warning(
      `${indexVariable} is set (${process.env[indexVariable]}) but neither --shard nor --shard-count is given: this copy processes every image; add --shard-count N (the number of copies) to process its shard only`,
    );
  }
  if (orphans.suspects > 0) {
    observer.warning(`${orphans.suspects} jobs were left running by a process that stopped abruptly; they run again, each alone, before the others`);
  }
  if (orphans.failed > 0) {
    observer.warning(`${orphans.failed} jobs failed E_PROCESS_DIED: the process died ${settings.maxAttempts} times while each ran alone (--retry-failed tries again)`);
  }
  const source = scanInputs(specs, {
    followSymlinks: settings.followSymlinks,
    outDir: path.resolve(settings.out),
    stdin: process.stdin,
    onProblem: (problem) => {
      problems.push(problem);
      observer.warning(`${problem.source}${problem.line ? `:${problem.line}` : ''}: ${problem.message} (entry skipped)`);
    },
  });
  // Writes go out at least this often, and with them the lock's heartbeat that other hosts check.
  const heartbeat = setInterval(() => ledger.flush(), 5_000);
  // The main thread's busy time is what the engine itself costs (workers run on other threads).
  const loopBefore = performance.eventLoopUtilization();
  let result;
  try {
    result = await scheduler.run(source);
    // A stop leaves a producer's stdin open and read, which would keep the process alive.
    if (result.interrupted) process.stdin.destroy();
  } finally {
    clearInterval(heartbeat);
    progress.end();
  }
  // The work is over: a signal now lets the run record its end and summary (a last push takes at most 5 s).
  interruption.onStop((signal) => observer.warning(`${signal}: the run has ended; writing its summary (again to quit at once)`));
  const durationMs = Date.now() - started;
  const mainThreadBusyMs = Math.round(performance.eventLoopUtilization(loopBefore).active);
  const { flaggedCounts } = await import('../pipeline/ledger-queries.js');
  ledger.flush();
  const flagged = flaggedCounts(ledger.db, runId, settings.failOn);
  const report: RunReport = { runId, durationMs, mainThreadBusyMs, settings, result, flagged, scanProblems: problems.length, maxRssMb: peakRssMb() };
  const exitCode = exitCodeOf(report);
  const counts = runCounts(report);
  ledger.finishRun(runId, counts.status, durationMs, counts);
  ledger.close();
  await telemetry.end({ status: result.interrupted ? 'interrupted' : 'completed', durationMs, exitCode, jobs: counts.jobs });
  if (settings.json) progress.event('summary', { ...counts, exitCode });
  else if (!settings.quiet) printRunSummary(report, process.stdout);
  return exitCode;
}

function exitCodeOf(report: RunReport): number {
  if (report.result.interrupted) return ExitCode.interrupted;
  if (Object.values(report.flagged).some((n) => n > 0)) return ExitCode.flagged;
  const counts = Object.values(report.result.tasks);
  const failed = counts.some((c) => c.failed > 0 || c.alreadyFailed > 0);
  return failed || report.scanProblems > 0 || report.result.images.duplicateKeys > 0 ? ExitCode.someFailed : ExitCode.ok;
}
