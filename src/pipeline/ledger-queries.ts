/**
 * Read-only questions the commands (status, export, duplicates, report, run's summary) ask of a
 * ledger. Plain SQL, so users can ask them too.
 */
import type { DB } from './ledger.js';
import type { JobState } from './types.js';
import { vectorOf } from './vectors.js';

export function imageCount(db: DB): number {
  return (db.prepare('SELECT count(*) AS n FROM images').get() as { n: number }).n;
}

/** The tasks the ledger has jobs of, by name. */
export function ledgerTasks(db: DB): string[] {
  return (db.prepare('SELECT DISTINCT task FROM jobs ORDER BY task').all() as { task: string }[]).map((row) => row.task);
}

export function hasJobsOf(db: DB, task: string): boolean {
  return db.prepare('SELECT 1 FROM jobs WHERE task = ? LIMIT 1').get(task) !== undefined;
}

export interface TaskStateCounts {
  task: string;
  pending: number;
  running: number;
  done: number;
  failed: number;
}

export function taskStateCounts(db: DB): TaskStateCounts[] {
  const rows = db.prepare('SELECT task, state, count(*) AS n FROM jobs GROUP BY task, state ORDER BY task').all() as {
    task: string;
    state: JobState;
    n: number;
  }[];
  const byTask = new Map<string, TaskStateCounts>();
  for (const row of rows) {
    const counts = byTask.get(row.task) ?? { task: row.task, pending: 0, running: 0, done: 0, failed: 0 };
    counts[row.state] = row.n;
    byTask.set(row.task, counts);
  }
  return [...byTask.values()];
}

export interface FailureGroup {
  task: string;
  code: string;
  count: number;
  examples: { key: string; path: string; message: string }[];
}

export function failureGroups(db: DB, limit: number, examplesPerGroup: number): FailureGroup[] {
  const groups = db
    .prepare(
      `SELECT task, error_code AS code, count(*) AS count FROM jobs WHERE state = 'failed'
       GROUP BY task, error_code ORDER BY count DESC, task, code LIMIT ?`,
    )
    .all(limit) as Omit<FailureGroup, 'examples'>[];
  const examples = db.prepare(
    `SELECT i.key, i.path, j.error_message AS message FROM jobs j JOIN images i ON i.id = j.image_id
     WHERE j.state = 'failed' AND j.task = ? AND j.error_code IS ? ORDER BY i.key LIMIT ?`,
  );
  return groups.map((group) => ({ ...group, examples: examples.all(group.task, group.code, examplesPerGroup) as FailureGroup['examples'] }));
}

export interface RunRow {
  id: number;
  argv: string;
  tasks: string;
  shard: string | null;
  host: string;
  startedAt: string;
  endedAt: string | null;
  status: string;
  durationMs: number | null;
  counts: string | null;
}

/**
 * Newest first by start, not by id: merged runs get ids in the order their ledgers were merged
 * (`merge all.db shard-2.db shard-1.db`), which says nothing of when they ran.
 */
const RUNS_NEWEST_FIRST = 'ORDER BY started_at DESC, id DESC';

/** The run that started last. */
export function lastRun(db: DB): RunRow | undefined {
  return recentRuns(db, 1)[0];
}

/** Images of a run that a task flagged (`flagged: true` in its result), per task. */
export function flaggedCounts(db: DB, runId: number, tasks: readonly string[]): Record<string, number> {
  const count = db.prepare(
    `SELECT count(*) AS n FROM jobs j JOIN images i ON i.id = j.image_id
     WHERE i.seen_run = ? AND j.task = ? AND j.state = 'done' AND json_extract(j.result, '$.flagged') = 1`,
  );
  return Object.fromEntries(tasks.map((task) => [task, (count.get(runId, task) as { n: number }).n]));
}

export interface DuplicateGroup {
  sha256: string;
  keys: string[];
}

/** Images with identical bytes (same sha256), largest groups first. */
export function duplicateGroups(db: DB, limit: number): { groups: number; images: number; top: DuplicateGroup[] } {
  const totals = db
    .prepare(
      `SELECT count(*) AS groups, coalesce(sum(n), 0) AS images FROM
       (SELECT count(*) AS n FROM images WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING n > 1)`,
    )
    .get() as { groups: number; images: number };
  const top = db
    .prepare(
      `SELECT sha256, json_group_array(key) AS keys FROM
       (SELECT sha256, key FROM images WHERE sha256 IN
          (SELECT sha256 FROM images WHERE sha256 IS NOT NULL GROUP BY sha256 HAVING count(*) > 1) ORDER BY key)
       GROUP BY sha256 ORDER BY count(*) DESC, sha256 LIMIT ?`,
    )
    .all(limit) as { sha256: string; keys: string }[];
  return { ...totals, top: top.map((row) => ({ sha256: row.sha256, keys: JSON.parse(row.keys) as string[] })) };
}

export interface JobRecord {
  key: string;
  path: string;
  sha256: string | null;
  task: string;
  state: JobState;
  attempts: number;
  taskVersion: number | null;
  result: unknown;
  artifacts: string[];
  errorCode: string | null;
  errorMessage: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** The job's stored vector, when asked for and there is one. */
  vector?: Buffer | null;
}

export interface JobFilter {
  task?: string;
  state?: JobState;
  /** Also read each job's vector bytes. */
  vectors?: boolean;
}

/** Streams one record per (image, task), ordered by key then task, without loading the ledger. */
export function* iterateJobs(db: DB, filter: JobFilter): Generator<JobRecord> {
  const where: string[] = [];
  const params: string[] = [];
  if (filter.task) {
    where.push('j.task = ?');
    params.push(filter.task);
  }
  if (filter.state) {
    where.push('j.state = ?');
    params.push(filter.state);
  }
  const statement = db.prepare(
    `SELECT i.key, i.path, i.sha256, j.task, j.state, j.attempts, j.task_version AS taskVersion, j.result, j.artifacts,
            j.error_code AS errorCode, j.error_message AS errorMessage, j.started_at AS startedAt,
            j.finished_at AS finishedAt, j.duration_ms AS durationMs${filter.vectors ? ', j.vector' : ''}
     FROM jobs j JOIN images i ON i.id = j.image_id
     ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY i.key, j.task`,
  );
  for (const row of statement.iterate(...params) as Iterable<Record<string, unknown>>) {
    yield {
      ...(row as unknown as JobRecord),
      result: row.result ? JSON.parse(row.result as string) : null,
      artifacts: row.artifacts ? (JSON.parse(row.artifacts as string) as string[]) : [],
    };
  }
}

export interface StoredVector {
  key: string;
  sha256: string | null;
  vector: Float32Array;
}

/** How many vectors iterateVectors yields for this task. */
export function vectorCount(db: DB, task: string): number {
  return (db.prepare("SELECT count(*) AS n FROM jobs WHERE task = ? AND state = 'done' AND vector IS NOT NULL").get(task) as { n: number }).n;
}

/** The vectors of a task's done jobs, streamed in storage order (sorting rows that carry 5 KB BLOBs would cost more than the search). */
export function* iterateVectors(db: DB, task: string): Generator<StoredVector> {
  const statement = db.prepare(
    `SELECT i.key, i.sha256, j.vector FROM jobs j JOIN images i ON i.id = j.image_id
     WHERE j.task = ? AND j.state = 'done' AND j.vector IS NOT NULL`,
  );
  for (const row of statement.iterate(task) as Iterable<{ key: string; sha256: string | null; vector: Buffer }>) {
    yield { key: row.key, sha256: row.sha256, vector: vectorOf(row.vector) };
  }
}

export interface ImageJobs {
  imageId: number;
  key: string;
  path: string;
  sha256: string | null;
  /** The image's jobs, ordered by task; empty for an image recorded before any job was planned. */
  jobs: JobRecord[];
}

/**
 * Streams every image with all its jobs, ordered by key: one pass over the ledger for readers
 * that look at an image as a whole (the HTML report), without loading the ledger.
 */
export function* iterateImageJobs(db: DB): Generator<ImageJobs> {
  const statement = db.prepare(
    `SELECT i.id AS imageId, i.key, i.path, i.sha256, j.task, j.state, j.attempts, j.task_version AS taskVersion, j.result, j.artifacts,
            j.error_code AS errorCode, j.error_message AS errorMessage, j.started_at AS startedAt,
            j.finished_at AS finishedAt, j.duration_ms AS durationMs
     FROM images i LEFT JOIN jobs j ON j.image_id = i.id
     ORDER BY i.key, j.task`,
  );
  let current: ImageJobs | undefined;
  for (const row of statement.iterate() as Iterable<Record<string, unknown>>) {
    if (current === undefined || current.imageId !== row.imageId) {
      if (current) yield current;
      current = { imageId: row.imageId as number, key: row.key as string, path: row.path as string, sha256: row.sha256 as string | null, jobs: [] };
    }
    if (row.task === null) continue;
    const { imageId: _id, result, artifacts, ...job } = row;
    current.jobs.push({
      ...(job as unknown as JobRecord),
      result: result ? JSON.parse(result as string) : null,
      artifacts: artifacts ? (JSON.parse(artifacts as string) as string[]) : [],
    });
  }
  if (current) yield current;
}

/** The latest runs, newest first. */
export function recentRuns(db: DB, limit: number): RunRow[] {
  return db
    .prepare(
      `SELECT id, argv, tasks, shard, host, started_at AS startedAt, ended_at AS endedAt, status, duration_ms AS durationMs, counts
       FROM runs ${RUNS_NEWEST_FIRST} LIMIT ?`,
    )
    .all(limit) as RunRow[];
}
