/**
 * The task registry: the one place that names every built-in task. Adding a task is adding its
 * folder and one line here. Tasks from model cards (`--model-card`) join at start-up.
 */
import { UsageError } from '../errors.js';
import type { TaskMeta, TaskName, TaskOptions } from './contract.js';
import { checkModel, findModel, installHint, repairHint } from '../runtime/models.js';
import preprocess from './preprocess/meta.js';
import meta from './meta/meta.js';
import nsfw from './nsfw/meta.js';
import faces from './faces/meta.js';
import anonymize from './anonymize/meta.js';
import ocr from './ocr/meta.js';
import objects from './objects/meta.js';
import embed from './embed/meta.js';
import labels from './labels/meta.js';
import background from './background/meta.js';
import logos from './logos/meta.js';

const BUILT_IN: readonly TaskMeta[] = [preprocess, meta, nsfw, faces, anonymize, ocr, objects, embed, labels, background, logos];
const added: TaskMeta[] = [];

/**
 * Built-in tasks, then those registered from model cards. A task that uses a kind of result
 * (`usesProvided`) uses every task that provides it, whoever registered that task: so `labels`
 * merges the classes of a classifier the user brings without either knowing the other's name.
 */
export function allTasks(): readonly TaskMeta[] {
  const tasks = [...BUILT_IN, ...added];
  return tasks.map((task) => {
    const providers = tasks.filter((other) => other !== task && other.provides?.some((kind) => task.usesProvided?.includes(kind))).map((other) => other.name);
    return providers.length === 0 ? task : { ...task, uses: [...(task.uses ?? []), ...providers] };
  });
}

export function addTasks(tasks: readonly TaskMeta[]): void {
  for (const task of tasks) {
    if (findTask(task.name)) throw new UsageError(`task '${task.name}' is defined twice`);
    added.push(task);
  }
}

export function findTask(name: TaskName): TaskMeta | undefined {
  return allTasks().find((task) => task.name === name);
}

function unknownTask(name: string, wantedBy?: string): UsageError {
  const known = allTasks().map((task) => task.name).join(', ');
  return new UsageError(
    wantedBy
      ? `task '${wantedBy}' needs unknown task '${name}' (known tasks: ${known})`
      : `unknown task '${name}' (known tasks: ${known}; see imgpipe tasks)`,
  );
}

/**
 * The tasks asked for plus every prerequisite, ordered so that a task comes after the tasks
 * it needs and after the tasks it uses that the run includes. Fails on unknown names and on
 * cycles, before any work.
 */
export function resolveTasks(names: readonly TaskName[]): TaskMeta[] {
  const included = new Set<TaskName>();
  const include = (name: TaskName, wantedBy?: string): void => {
    if (included.has(name)) return;
    const task = findTask(name);
    if (!task) throw unknownTask(name, wantedBy);
    included.add(name);
    for (const need of task.needs) include(need, name);
  };
  for (const name of names) include(name);

  const ordered: TaskMeta[] = [];
  const state = new Map<TaskName, 'visiting' | 'done'>();
  const visit = (name: TaskName, path: TaskName[]): void => {
    const mark = state.get(name);
    if (mark === 'done') return;
    if (mark === 'visiting') throw new UsageError(`task dependency cycle: ${[...path, name].join(' -> ')}`);
    const task = findTask(name)!;
    state.set(name, 'visiting');
    for (const before of [...task.needs, ...(task.uses ?? []).filter((use) => included.has(use))]) visit(before, [...path, name]);
    state.set(name, 'done');
    ordered.push(task);
  };
  for (const name of included) visit(name, []);
  return ordered;
}

/** The catalogue ids a task loads with these resolved options (its `models`, or what they choose). */
function modelsFor(task: TaskMeta, options: TaskOptions): readonly string[] {
  return typeof task.models === 'function' ? task.models(options) : (task.models ?? []);
}

/**
 * Every model the run's tasks will load, with the options they run with, is in the catalogue
 * and installed with its catalogued files, each file's sha256 included: checked before any work,
 * with the command that fixes it. Models that no task of the run loads with its options are not
 * checked (`imgpipe models verify` checks them all).
 */
export function checkModels(runs: readonly { meta: TaskMeta; options: TaskOptions }[]): void {
  for (const { meta: task, options } of runs) {
    for (const id of modelsFor(task, options)) {
      const model = findModel(id);
      if (!model) throw new UsageError(`task '${task.name}' needs model '${id}', which is not in models/catalog.json`);
      const status = checkModel(model);
      if (!status.installed) {
        // An optional model's note says why a default install lacks it (its licence, its weight).
        const note = model.optional ? ` (optional: ${model.optional})` : '';
        throw new UsageError(`task '${task.name}' needs model ${id}: ${status.reason}${note}; install it with: ${installHint(model)}`);
      }
      if (status.problems.length > 0) {
        throw new UsageError(`task '${task.name}' needs model ${id}, which is damaged (${status.problems.join('; ')}); reinstall it with: ${repairHint(model, status.folder)}`);
      }
    }
  }
}
