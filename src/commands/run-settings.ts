/**
 * Turns `imgpipe run` flags and an optional JSON config file into validated run settings.
 * Flags win over the config file; the config file wins over defaults. Every problem is a
 * usage error naming the flag or key, raised before the ledger is touched.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { UsageError } from '../errors.js';
import type { OptionValue, TaskMeta, TaskOptions } from '../tasks/contract.js';
import { allTasks, checkModels, findTask, resolveTasks } from '../tasks/registry.js';
import { DEFAULT_MAX_PIXELS } from '../runtime/limits.js';
import { invalid, parseBoolean, parseChoice, parseHttpUrl, parseInteger, parseKeyValues, parseNumber, parseOption, parsePath, parseWritableFile } from '../validate.js';
import { LOG_FORMATS, type LogFormat } from '../observe/logs.js';
import type { TelemetrySettings } from '../observe/telemetry.js';
import { parseShard, shardFromEnvironment } from '../pipeline/shard.js';
import type { TaskRun } from '../pipeline/plan.js';
import type { Shard } from '../pipeline/types.js';
import { DEFAULT_DB } from './common.js';

export const DEFAULT_TASKS = ['meta'];
export const DEFAULT_OUT = './imgpipe-out';

export const DEFAULT_METRICS_JOB = 'imgpipe';
export const DEFAULT_METRICS_INTERVAL_SECONDS = 5;

export interface RunSettings extends TelemetrySettings {
  inputs: string[];
  db: string;
  out: string;
  tasks: TaskRun[];
  threads: number;
  shard: Shard | undefined;
  retryFailed: boolean;
  force: boolean;
  maxAttempts: number;
  followSymlinks: boolean;
  /** Images with more pixels are refused from their header, before decoding. */
  maxPixels: number;
  /** Tasks whose flagged results make the run exit 3. */
  failOn: string[];
  /** Said as the run starts, as its other warnings are: what of the config file it leaves aside. */
  warnings: string[];
}

/** Options of `run` other than per-task ones, by their camelCase name (as in a config file). */
const RUN_KEYS = [
  'inputs', 'tasks', 'db', 'out', 'concurrency', 'threads', 'shard', 'shardCount', 'retryFailed', 'force',
  'maxAttempts', 'timeout', 'maxPixels', 'json', 'quiet', 'followSymlinks', 'failOn', 'config',
  'metricsFile', 'pushgateway', 'metricsJob', 'metricsInterval', 'logFormat', 'logFile',
] as const;

export function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function taskOptionFlag(task: TaskMeta, option: string): string {
  return `--${task.name}-${option}`;
}

/** `--no-ocr-text` for `--ocr-text`: what turns a boolean off over a config file's true. */
export function negatedFlag(flag: string): string {
  return flag.replace(/^--/, '--no-');
}

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--config: cannot read ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config: ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(`--config ${file}`, 'a JSON object', parsed);
  const config: Record<string, unknown> = {};
  const spelled = new Map<string, string>();
  for (const [key, value] of Object.entries(parsed)) {
    const name = camelCase(key);
    // "maxAttempts" and "max-attempts" both: which one was meant cannot be known, and one would be dropped unseen.
    const other = spelled.get(name);
    if (other !== undefined) throw new UsageError(`--config: '${other}' and '${key}' are one option (${name}); keep one`);
    spelled.set(name, key);
    config[name] = value;
  }
  return config;
}

function taskOptionKeys(): Map<string, [TaskMeta, string]> {
  const keys = new Map<string, [TaskMeta, string]>();
  for (const task of allTasks()) for (const option of Object.keys(task.options)) keys.set(camelCase(`${task.name}-${option}`), [task, option]);
  return keys;
}

function parseList(where: string, raw: unknown): string[] {
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : null;
  if (!items || items.some((item) => typeof item !== 'string')) throw invalid(where, 'a comma-separated list', raw);
  return (items as string[]).map((item) => item.trim()).filter(Boolean);
}

export function optionsHash(options: TaskOptions): string {
  const sorted = Object.keys(options)
    .sort()
    .map((key) => [key, options[key]]);
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

/** A task's pool size without --concurrency; `imgpipe tasks` shows it for this machine. */
export function defaultConcurrency(meta: TaskMeta, threads: number, threadsPerJob: number): number {
  const fit = Math.max(1, Math.floor(threads / threadsPerJob));
  return meta.concurrency === 'threads' ? fit : Math.min(meta.concurrency, fit);
}

/**
 * `flags` holds only what was given on the command line (commander attribute names);
 * `env` supplies the shard index for --shard-count.
 */
export function resolveRunSettings(cliInputs: string[], flags: Record<string, unknown>, env: NodeJS.ProcessEnv): RunSettings {
  const optionKeys = taskOptionKeys();
  const config = flags.config !== undefined ? readConfig(parsePath('--config', flags.config, 'a JSON file')) : {};
  for (const key of Object.keys(config)) {
    if (key === 'modelCard') throw new UsageError('--config: modelCard cannot be set in a config file (cards add flags, which are read first): give --model-card on the command line');
    if (!(RUN_KEYS as readonly string[]).includes(key) && !optionKeys.has(key) || key === 'config') {
      throw new UsageError(`--config: unknown key '${key}' (keys are run's long flags, like "tasks", "maxAttempts" or "preprocessMaxSize")`);
    }
  }
  const pick = (key: string): unknown => (flags[key] !== undefined ? flags[key] : config[key]);
  const where = (key: string, flag: string): string => (flags[key] !== undefined ? flag : `--config ${key}`);

  const inputs = cliInputs.length > 0 ? cliInputs : config.inputs !== undefined ? parseList('--config inputs', config.inputs) : [];
  const requested = pick('tasks') !== undefined ? parseList(where('tasks', '--tasks'), pick('tasks')) : DEFAULT_TASKS;
  if (requested.length === 0) throw new UsageError('--tasks: name at least one task (see imgpipe tasks)');
  const metas = resolveTasks(requested);
  const names = new Set(metas.map((task) => task.name));
  // What a shared config file names of tasks that this run leaves out: ignored, and said once.
  const ignored: string[] = [];
  const ignoredTasks = new Set<string>();
  const ignoreFromConfig = (key: string, name: string, entry: string): boolean => {
    if (flags[key] !== undefined || names.has(name) || !findTask(name)) return false;
    ignored.push(entry);
    ignoredTasks.add(name);
    return true;
  };
  const notInRun = (where: string, name: string): UsageError =>
    new UsageError(findTask(name) ? `${where}: task '${name}' is not part of this run (tasks: ${[...names].join(', ')})` : `${where}: unknown task '${name}' (see imgpipe tasks)`);
  const failOn: string[] = [];
  for (const name of pick('failOn') !== undefined ? parseList(where('failOn', '--fail-on'), pick('failOn')) : []) {
    const task = metas.find((t) => t.name === name) ?? (flags.failOn === undefined ? findTask(name) : undefined);
    if (!task) throw notInRun(where('failOn', '--fail-on'), name);
    if (!task.flags) {
      const flagging = allTasks().filter((t) => t.flags).map((t) => t.name);
      throw new UsageError(`${where('failOn', '--fail-on')}: task '${name}' does not flag images (tasks that do: ${flagging.join(', ')})`);
    }
    // A gate on a task that does not run has nothing to flag: left out, not an error, for a shared config.
    if (!ignoreFromConfig('failOn', name, `failOn (${name})`)) failOn.push(name);
  }

  const threads = pick('threads') !== undefined ? parseInteger(where('threads', '--threads'), pick('threads'), 1, 1024) : os.availableParallelism();

  const concurrency = pick('concurrency') !== undefined ? parseKeyValues(where('concurrency', '--concurrency'), pick('concurrency'), (w, v) => parseInteger(w, v, 1, 256)) : new Map<string, number>();
  const timeouts = pick('timeout') !== undefined ? parseKeyValues(where('timeout', '--timeout'), pick('timeout'), (w, v) => parseNumber(w, v, 0.1, 86_400)) : new Map<string, number>();
  for (const [key, map] of [['concurrency', concurrency], ['timeout', timeouts]] as const) {
    for (const name of [...map.keys()]) {
      if (ignoreFromConfig(key, name, `${key} (${name})`)) map.delete(name);
      else if (!names.has(name)) throw notInRun(where(key, `--${key}`), name);
    }
  }

  // --shard and --shard-count say the same thing two ways: a flag for either overrides the config
  // file's (a shared config with "shardCount" and one machine's --shard 2/4), as for any option.
  const fromFlags = flags.shard !== undefined || flags.shardCount !== undefined;
  const shardSource = fromFlags ? flags : config;
  const shardWhere = fromFlags ? '' : '--config ';
  if (shardSource.shard !== undefined && shardSource.shardCount !== undefined) {
    throw new UsageError(fromFlags ? '--shard and --shard-count exclude each other: give one' : '--config: shard and shardCount exclude each other: give one');
  }
  const shard =
    shardSource.shard !== undefined
      ? parseShard(shardSource.shard, `${shardWhere}${fromFlags ? '--shard' : 'shard'}`)
      : shardSource.shardCount !== undefined
        ? shardFromEnvironment(shardSource.shardCount, env, `${shardWhere}${fromFlags ? '--shard-count' : 'shardCount'}`)
        : undefined;

  // Prerequisites come first (resolveTasks orders them so): each task's identity is known when a task that needs it is reached.
  const identities = new Map<string, string>();
  const tasks = metas.map((meta): TaskRun => {
    const options: Record<string, OptionValue> = {};
    for (const [option, spec] of Object.entries(meta.options)) {
      const key = camelCase(`${meta.name}-${option}`);
      const raw = pick(key);
      if (raw === undefined && spec.type === 'string' && spec.required) {
        // Either place may give it: with a config file, name its key too.
        const name = flags.config !== undefined ? `--${meta.name}-${option} (or --config ${key})` : `--${meta.name}-${option}`;
        throw invalid(`${name} (required by task '${meta.name}')`, `${spec.patternHint ?? 'a string'} (${spec.description})`, raw);
      }
      options[option] = raw === undefined ? spec.default : parseOption(where(key, `--${meta.name}-${option}`), spec, raw);
    }
    const problem = meta.validate?.(options);
    if (problem) throw new UsageError(problem);
    const threadsPerJob = Math.min(meta.threadsPerJob, threads);
    // What else decides the result: the optional inputs this run gives, the files options name.
    const identity: Record<string, OptionValue> = { ...options };
    const uses = (meta.uses ?? []).filter((name) => names.has(name));
    if (uses.length > 0) identity['(uses)'] = uses.join(',');
    if (meta.fingerprint) identity['(files)'] = meta.fingerprint(options);
    // A result computed from other tasks' results is only as current as they are: another faces
    // model, or a bumped version of it, redoes anonymize too, in this run or any later one.
    const inputs = [...meta.needs, ...uses];
    if (inputs.length > 0) identity['(inputs)'] = inputs.map((name) => `${name}:${identities.get(name)}`).join(',');
    const hash = optionsHash(identity);
    identities.set(meta.name, `${meta.version}:${hash}`);
    return {
      meta,
      options,
      optionsHash: hash,
      concurrency: concurrency.get(meta.name) ?? defaultConcurrency(meta, threads, threadsPerJob),
      threadsPerJob,
      timeoutMs: (timeouts.get(meta.name) ?? meta.timeoutSeconds) * 1000,
    };
  });
  // One config file serves runs of different tasks: its options of a task this run leaves out are
  // ignored, said in a warning, but still checked (a typo or a bad value is caught by any run). On
  // the command line such an option is more likely a slip (a task forgotten in --tasks): an error.
  for (const [key, [task, option]] of optionKeys) {
    if (flags[key] === undefined || names.has(task.name)) continue;
    // false is only ever --no-X: a value given to the flag arrives as a string.
    const flag = flags[key] === false ? negatedFlag(taskOptionFlag(task, option)) : taskOptionFlag(task, option);
    throw new UsageError(`${flag} is an option of task '${task.name}', which is not part of this run`);
  }
  for (const key of Object.keys(config)) {
    const [task, option] = optionKeys.get(key) ?? [];
    if (!task || !option || names.has(task.name)) continue;
    parseOption(`--config ${key}`, task.options[option]!, config[key]);
    ignoreFromConfig(key, task.name, key);
  }
  const warnings: string[] = [];
  if (ignored.length > 0) {
    const which = [...ignoredTasks].map((name) => `'${name}'`).join(', ');
    const tasksAre = ignoredTasks.size === 1 ? `task ${which} is` : `tasks ${which} are`;
    warnings.push(`--config ${String(flags.config)}: ${ignored.join(', ')} ignored: ${tasksAre} not part of this run (tasks: ${[...names].join(', ')})`);
  }
  // After the options: they choose some models (a detector, languages), and only those load.
  checkModels(tasks);

  const metricsFile = pick('metricsFile') !== undefined ? parseWritableFile(where('metricsFile', '--metrics-file'), pick('metricsFile')) : undefined;
  const pushgateway = pick('pushgateway') !== undefined ? parseHttpUrl(where('pushgateway', '--pushgateway'), pick('pushgateway')) : undefined;
  for (const [key, flagName, needs] of [['metricsJob', '--metrics-job', '--pushgateway'], ['metricsInterval', '--metrics-interval', '--metrics-file or --pushgateway']] as const) {
    const used = key === 'metricsJob' ? pushgateway : metricsFile ?? pushgateway;
    if (pick(key) !== undefined && used === undefined) throw new UsageError(`${where(key, flagName)} applies to ${needs}, which is not given`);
  }
  const metricsJob = pick('metricsJob') !== undefined ? parseMetricsJob(where('metricsJob', '--metrics-job'), pick('metricsJob')) : DEFAULT_METRICS_JOB;
  const metricsIntervalSeconds =
    pick('metricsInterval') !== undefined ? parseNumber(where('metricsInterval', '--metrics-interval'), pick('metricsInterval'), 1, 3600) : DEFAULT_METRICS_INTERVAL_SECONDS;
  const logFormat: LogFormat = pick('logFormat') !== undefined ? parseChoice(where('logFormat', '--log-format'), pick('logFormat'), LOG_FORMATS) : 'text';
  const logFile = pick('logFile') !== undefined ? parseWritableFile(where('logFile', '--log-file'), pick('logFile')) : undefined;

  const flag = (key: string, name: string): boolean => (pick(key) === undefined ? false : parseBoolean(where(key, name), pick(key)));
  return {
    inputs,
    db: pick('db') !== undefined ? parsePath(where('db', '--db'), pick('db'), 'a file path') : DEFAULT_DB,
    out: pick('out') !== undefined ? parsePath(where('out', '--out'), pick('out'), 'a folder path') : DEFAULT_OUT,
    tasks,
    threads,
    shard,
    retryFailed: flag('retryFailed', '--retry-failed'),
    force: flag('force', '--force'),
    maxAttempts: pick('maxAttempts') !== undefined ? parseInteger(where('maxAttempts', '--max-attempts'), pick('maxAttempts'), 1, 100) : 3,
    json: flag('json', '--json'),
    quiet: flag('quiet', '--quiet'),
    followSymlinks: flag('followSymlinks', '--follow-symlinks'),
    maxPixels: pick('maxPixels') !== undefined ? parseInteger(where('maxPixels', '--max-pixels'), pick('maxPixels'), 1) : DEFAULT_MAX_PIXELS,
    failOn,
    warnings,
    metricsFile,
    pushgateway,
    metricsJob,
    metricsIntervalSeconds,
    logFormat,
    logFile,
  };
}

/** The Pushgateway's job label, which goes into a URL path: a plain name. */
function parseMetricsJob(where: string, raw: unknown): string {
  if (typeof raw !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(raw)) throw invalid(where, 'a name of letters, digits, _ . : -', raw);
  return raw;
}
