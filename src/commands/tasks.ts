/** `imgpipe tasks`: every task with its version, prerequisites, concurrency and options. */
import os from 'node:os';
import { Command } from 'commander';
import { allTasks } from '../tasks/registry.js';
import { DEFAULT_LOAD_TIMEOUT_SECONDS, type TaskMeta } from '../tasks/contract.js';
import { defaultConcurrency, taskOptionFlag } from './run-settings.js';
import { examples, modelCardOption } from './common.js';

/** How a task's default pool follows --threads, in words: "one per thread, at most 4". */
function concurrencyRule(task: TaskMeta): string {
  const perThread = 1 / task.threadsPerJob;
  const words: Record<number, string> = { 1: 'one', 2: 'two', 3: 'three', 4: 'four' };
  const rule = perThread >= 1 ? `${words[perThread] ?? Number(perThread.toFixed(2))} per thread` : `one per ${task.threadsPerJob} threads`;
  return task.concurrency === 'threads' ? rule : `${rule}, at most ${task.concurrency}`;
}

export function tasksCommand(): Command {
  return new Command('tasks')
    .summary('list the tasks, their versions, prerequisites and options')
    .option('--json', 'machine-readable output')
    .addOption(modelCardOption())
    .addHelpText('after', examples(['imgpipe tasks', 'imgpipe tasks --json | jq ".[].name"', 'imgpipe tasks --model-card my-detector.json']))
    .action((flags: { json?: boolean }) => {
      // What `run` would use here: its --threads defaults to this machine's threads. A task's
      // own cap (background's 4) alone would promise more workers than a small machine gets.
      const threads = os.availableParallelism();
      const tasks = allTasks().map((task) => ({
        name: task.name,
        version: task.version,
        description: task.description,
        needs: task.needs,
        uses: task.uses ?? [],
        concurrency: defaultConcurrency(task, threads, Math.min(task.threadsPerJob, threads)),
        concurrencyRule: concurrencyRule(task),
        threadsPerJob: task.threadsPerJob,
        timeoutSeconds: task.timeoutSeconds,
        // What a worker's first job has beyond the time limit, to load the task (a model card may set it).
        loadTimeoutSeconds: task.loadTimeoutSeconds ?? DEFAULT_LOAD_TIMEOUT_SECONDS,
        options: Object.entries(task.options).map(([name, spec]) => ({
          flag: taskOptionFlag(task, name),
          type: spec.type,
          ...(spec.type === 'enum' ? { values: spec.values } : {}),
          ...(spec.type === 'string' && spec.required ? { required: true } : {}),
          default: spec.default,
          description: spec.description,
        })),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(tasks, null, 2)}\n`);
        return;
      }
      const blocks = tasks.map((task) => {
        const head = `${task.name} (version ${task.version}) - ${task.description}`;
        const uses = task.uses.length ? `; uses ${task.uses.join(', ')} when the run includes it` : '';
        const facts = `  needs: ${task.needs.length ? task.needs.join(', ') : 'nothing'}${uses}; default concurrency ${task.concurrency} (${task.concurrencyRule}); timeout ${task.timeoutSeconds} s (a worker's first job ${task.loadTimeoutSeconds} s more, to load)`;
        const fallback = (o: (typeof task.options)[number]): string => ('required' in o ? ' (required)' : o.default === '' ? ' (default: none)' : ` (default: ${String(o.default)})`);
        const options = task.options.map((o) => `  ${o.flag} <${o.type === 'enum' ? o.values!.join('|') : o.type}>  ${o.description}${fallback(o)}`);
        return [head, facts, ...options].join('\n');
      });
      process.stdout.write(`${blocks.join('\n\n')}\n`);
    });
}
