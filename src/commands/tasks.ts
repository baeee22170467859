/** `imgpipe tasks`: every task with its version, prerequisites, concurrency and options. */
import { Command } from 'commander';
import { allTasks } from '../tasks/registry.js';
import { taskOptionFlag } from './run-settings.js';
import { examples, modelCardOption } from './common.js';

export function tasksCommand(): Command {
  return new Command('tasks')
    .summary('list the tasks, their versions, prerequisites and options')
    .option('--json', 'machine-readable output')
    .addOption(modelCardOption())
    .addHelpText('after', examples(['imgpipe tasks', 'imgpipe tasks --json | jq ".[].name"', 'imgpipe tasks --model-card my-detector.json']))
    .action((flags: { json?: boolean }) => {
      const tasks = allTasks().map((task) => ({
        name: task.name,
        version: task.version,
        description: task.description,
        needs: task.needs,
        uses: task.uses ?? [],
        concurrency: task.concurrency,
        threadsPerJob: task.threadsPerJob,
        timeoutSeconds: task.timeoutSeconds,
        options: Object.entries(task.options).map(([name, spec]) => ({
          flag: taskOptionFlag(task, name),
          type: spec.type,
          ...(spec.type === 'enum' ? { values: spec.values } : {}),
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
        const facts = `  needs: ${task.needs.length ? task.needs.join(', ') : 'nothing'}${uses}; default concurrency ${task.concurrency === 'threads' ? `${Number((1 / task.threadsPerJob).toFixed(2))} per thread` : task.concurrency}; timeout ${task.timeoutSeconds} s`;
        const options = task.options.map((o) => `  ${o.flag} <${o.type === 'enum' ? o.values!.join('|') : o.type}>  ${o.description} (default: ${o.default === '' ? 'none' : String(o.default)})`);
        return [head, facts, ...options].join('\n');
      });
      process.stdout.write(`${blocks.join('\n\n')}\n`);
    });
}
