/**
 * The task registry: the one place that names every task. Adding a task is adding its folder
 * and one line here.
 */
import { UsageError } from '../errors.js';
import type { TaskMeta, TaskName } from './contract.js';
import preprocess from './preprocess/meta.js';
import meta from './meta/meta.js';

export const TASKS: readonly TaskMeta[] = [preprocess, meta];

export function findTask(name: TaskName): TaskMeta | undefined {
  return TASKS.find((task) => task.name === name);
}

function unknownTask(name: string, wantedBy?: string): UsageError {
  const known = TASKS.map((task) => task.name).join(', ');
  return new UsageError(
    wantedBy
      ? `task '${wantedBy}' needs unknown task '${name}' (known tasks: ${known})`
      : `unknown task '${name}' (known tasks: ${known}; see imgpipe tasks)`,
  );
}

/**
 * The tasks asked for plus every prerequisite, ordered so that a task comes after the tasks
 * it needs. Fails on unknown names and on cycles, before any work.
 */
export function resolveTasks(names: readonly TaskName[]): TaskMeta[] {
  const ordered: TaskMeta[] = [];
  const state = new Map<TaskName, 'visiting' | 'done'>();
  const visit = (name: TaskName, path: TaskName[], wantedBy?: string): void => {
    const mark = state.get(name);
    if (mark === 'done') return;
    if (mark === 'visiting') throw new UsageError(`task dependency cycle: ${[...path, name].join(' -> ')}`);
    const task = findTask(name);
    if (!task) throw unknownTask(name, wantedBy);
    state.set(name, 'visiting');
    for (const need of task.needs) visit(need, [...path, name], name);
    state.set(name, 'done');
    ordered.push(task);
  };
  for (const name of names) visit(name, []);
  return ordered;
}
