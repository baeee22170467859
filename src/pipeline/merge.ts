/**
 * Unions shard ledgers into one. All or nothing: every source is read and checked inside one
 * transaction on the target, and a disagreement about the same (image, task, version), or a
 * stop asked for (Ctrl-C, SIGTERM), rolls the whole merge back.
 */
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { Interrupted, UsageError } from '../errors.js';
import { fileIdentity } from './file-identity.js';
import { Ledger } from './ledger.js';

interface SourceJob {
  key: string;
  path: string;
  size: number | null;
  mtimeMs: number | null;
  sha256: string | null;
  task: string | null;
  state: string | null;
  attempts: number;
  taskVersion: number | null;
  optionsHash: string | null;
  inputSize: number | null;
  inputMtimeMs: number | null;
  inputSha256: string | null;
  result: string | null;
  vector: Buffer | null;
  artifacts: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  runId: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

interface TargetJob {
  state: string;
  taskVersion: number | null;
  optionsHash: string | null;
  inputSha256: string | null;
  result: string | null;
  vector: Buffer | null;
  finishedAt: string | null;
}

export interface MergeReport {
  sources: { file: string; images: number; jobs: number; runs: number }[];
  images: number;
  jobs: number;
}

const RANK: Record<string, number> = { done: 3, failed: 2, pending: 1, running: 1 };

/** Which of two records of the same job the merged ledger keeps. */
function incomingWins(incoming: SourceJob, existing: TargetJob): boolean {
  const a = RANK[incoming.state!] ?? 0;
  const b = RANK[existing.state] ?? 0;
  if (a !== b) return a > b;
  if (incoming.state === 'done' && incoming.taskVersion !== existing.taskVersion) return (incoming.taskVersion ?? 0) > (existing.taskVersion ?? 0);
  return (incoming.finishedAt ?? '') > (existing.finishedAt ?? '');
}

function disagreement(incoming: SourceJob, existing: TargetJob): string | undefined {
  if (incoming.state !== 'done' || existing.state !== 'done' || incoming.taskVersion !== existing.taskVersion) return undefined;
  if (incoming.optionsHash !== existing.optionsHash) return 'computed with different options';
  if (incoming.inputSha256 && existing.inputSha256 && incoming.inputSha256 !== existing.inputSha256) return 'computed from different file contents';
  if (incoming.result !== existing.result) return 'different results';
  if (!sameBytes(incoming.vector, existing.vector)) return 'different vectors';
  return undefined;
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/**
 * Opens every source for reading, checking each (it exists, is a ledger, has a schema this
 * imgpipe reads) and that none is the target or another source under a second name. Done
 * before the target is created or opened for writing, so that a bad source leaves no new,
 * empty target behind. The caller closes the sources.
 */
export function openSources(targetFile: string, sourceFiles: readonly string[]): Ledger[] {
  // By device and inode: two names of one file (a symlink, a hard link, ./a.db and a.db) are one ledger.
  const target = fileIdentity(targetFile);
  const seen = new Map<string, string>();
  const sources: Ledger[] = [];
  try {
    for (const file of sourceFiles) {
      sources.push(Ledger.openForRead(file, 'merge'));
      const id = fileIdentity(file);
      if (id === undefined) continue;
      if (id === target) throw new UsageError(`merge: ${file} is the target ${targetFile} itself (the same file); a ledger cannot be merged into itself`);
      const earlier = seen.get(id);
      if (earlier !== undefined) throw new UsageError(`merge: ${file} and ${earlier} are the same ledger (the same file); name each source once`);
      seen.set(id, file);
    }
  } catch (error) {
    for (const source of sources) source.close();
    throw error;
  }
  return sources;
}

/** Rows merged between two looks at `stop`: SQLite's calls are synchronous, and a signal is heard only between them. */
const ROWS_BETWEEN_STOPS = 1_000;

async function stopIfAsked(target: Ledger, stop: AbortSignal | undefined): Promise<void> {
  if (!stop) return;
  // Two turns: Node hears a signal in the loop's poll phase, which one setImmediate may not pass.
  await yieldToEvents();
  await yieldToEvents();
  if (!stop.aborted) return;
  const signal = stop.reason as NodeJS.Signals;
  throw new Interrupted(signal, `merge interrupted by ${signal}: nothing was merged, ${target.file} is as it was`);
}

/**
 * Merges already opened sources (see `openSources`) into `target`; the caller closes them.
 * `stop` aborted (its reason the signal) rolls the merge back and throws `Interrupted`.
 */
export async function mergeLedgers(target: Ledger, sources: readonly Ledger[], stop?: AbortSignal): Promise<MergeReport> {
  const db = target.db;
  const report: MergeReport = { sources: [], images: 0, jobs: 0 };
  const findImage = db.prepare('SELECT id, sha256 FROM images WHERE key = ?');
  const insertImage = db.prepare('INSERT INTO images (key, path, size, mtime_ms, sha256) VALUES (?, ?, ?, ?, ?) RETURNING id');
  const fillSha = db.prepare('UPDATE images SET sha256 = ? WHERE id = ? AND sha256 IS NULL');
  const findJob = db.prepare(
    `SELECT state, task_version AS taskVersion, options_hash AS optionsHash, input_sha256 AS inputSha256, result, vector, finished_at AS finishedAt
     FROM jobs WHERE image_id = ? AND task = ?`,
  );
  const upsertJob = db.prepare(
    `INSERT OR REPLACE INTO jobs (image_id, task, state, attempts, task_version, options_hash, input_size, input_mtime_ms,
       input_sha256, result, artifacts, error_code, error_message, run_id, started_at, finished_at, duration_ms, vector)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertRun = db.prepare(
    `INSERT INTO runs (argv, cwd, tasks, shard, host, pid, imgpipe, started_at, ended_at, status, duration_ms, counts)
     SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? RETURNING id`,
  );
  // A run is one process's: its host, pid and start (to the millisecond) name it in every
  // ledger it reaches, however often and through however many merges, where row ids do not.
  const findRun = db.prepare('SELECT id, ended_at AS endedAt FROM runs WHERE host = ? AND pid = ? AND started_at = ?');
  // A run merged while it was still going (or left unfinished) gets its end when merged again after it.
  const finishRun = db.prepare('UPDATE runs SET ended_at = ?, status = ?, duration_ms = ?, counts = ? WHERE id = ?');
  // The most deaths any ledger counted, not their sum: merging the same ledger again counts nothing twice.
  const upsertSuspect = db.prepare(
    `INSERT INTO suspects (image_id, task, deaths) SELECT id, ?, ? FROM images WHERE key = ?
     ON CONFLICT (image_id, task) DO UPDATE SET deaths = max(deaths, excluded.deaths)`,
  );

  // One transaction taken by hand: better-sqlite3's transaction() cannot wait for the events
  // that deliver a signal.
  db.exec('BEGIN IMMEDIATE');
  try {
    let rowsMerged = 0;
    for (const source of sources) {
      const runIds = new Map<number, number>();
      const runs = source.db.prepare('SELECT * FROM runs ORDER BY id').all() as Record<string, unknown>[];
      for (const run of runs) {
        const status = run.status === 'running' ? 'unfinished' : run.status;
        const known = findRun.get(run.host, run.pid, run.started_at) as { id: number; endedAt: string | null } | undefined;
        if (known) {
          if (known.endedAt === null && run.ended_at !== null) finishRun.run(run.ended_at, status, run.duration_ms, run.counts, known.id);
          runIds.set(run.id as number, known.id);
          continue;
        }
        const { id } = insertRun.get(run.argv, run.cwd, run.tasks, run.shard, run.host, run.pid, run.imgpipe, run.started_at, run.ended_at, status, run.duration_ms, run.counts) as { id: number };
        runIds.set(run.id as number, id);
      }
      const rows = source.db.prepare(
        `SELECT i.key, i.path, i.size, i.mtime_ms AS mtimeMs, i.sha256, j.task, j.state, j.attempts, j.task_version AS taskVersion,
                j.options_hash AS optionsHash, j.input_size AS inputSize, j.input_mtime_ms AS inputMtimeMs,
                j.input_sha256 AS inputSha256, j.result, j.vector, j.artifacts, j.error_code AS errorCode, j.error_message AS errorMessage,
                j.run_id AS runId, j.started_at AS startedAt, j.finished_at AS finishedAt, j.duration_ms AS durationMs
         FROM images i LEFT JOIN jobs j ON j.image_id = i.id ORDER BY i.id`,
      );
      let images = 0;
      let jobs = 0;
      let lastKey: string | undefined;
      let imageId = 0;
      for (const row of rows.iterate() as Iterable<SourceJob>) {
        rowsMerged += 1;
        if (rowsMerged % ROWS_BETWEEN_STOPS === 0) await stopIfAsked(target, stop);
        if (row.key !== lastKey) {
          lastKey = row.key;
          images += 1;
          const existing = findImage.get(row.key) as { id: number; sha256: string | null } | undefined;
          if (existing) {
            imageId = existing.id;
            if (row.sha256) fillSha.run(row.sha256, imageId);
          } else {
            imageId = (insertImage.get(row.key, row.path, row.size, row.mtimeMs, row.sha256) as { id: number }).id;
          }
        }
        if (row.task === null) continue;
        jobs += 1;
        const existing = findJob.get(imageId, row.task) as TargetJob | undefined;
        if (existing) {
          const why = disagreement(row, existing);
          if (why) {
            throw new UsageError(
              `merge refused: ${source.file} and the ledgers merged before it disagree about image ${JSON.stringify(row.key)}, ` +
                `task ${row.task} version ${row.taskVersion} (${why}); nothing was merged`,
            );
          }
          if (!incomingWins(row, existing)) continue;
        }
        const state = row.state === 'running' ? 'pending' : row.state;
        upsertJob.run(imageId, row.task, state, row.attempts, row.taskVersion, row.optionsHash, row.inputSize, row.inputMtimeMs, row.inputSha256, row.result, row.artifacts, row.errorCode, row.errorMessage, row.runId === null ? null : runIds.get(row.runId) ?? null, row.startedAt, row.finishedAt, row.durationMs, row.vector);
      }
      // Suspects (Ledger.recoverOrphans) travel too, or a resume of the merged ledger would run a job
      // that took a shard's process down beside others, and die again. A job a shard left running
      // is one as well: the merge makes it pending, as recoverOrphans would, and so a suspect. Its
      // death is not counted: merge cannot tell a shard that died from one still running.
      const suspects = source.db.prepare(
        `SELECT i.key, j.task, coalesce(s.deaths, 0) AS deaths
         FROM jobs j JOIN images i ON i.id = j.image_id
         LEFT JOIN suspects s ON s.image_id = j.image_id AND s.task = j.task
         WHERE j.state <> 'done' AND (s.image_id IS NOT NULL OR j.state = 'running')`,
      );
      for (const suspect of suspects.iterate() as Iterable<{ key: string; task: string; deaths: number }>) upsertSuspect.run(suspect.task, suspect.deaths, suspect.key);
      report.sources.push({ file: source.file, images, jobs, runs: runs.length });
      report.images += images;
      report.jobs += jobs;
    }
    // A done job is no suspect, whichever ledger it was done in (the target, a source before or
    // after the one that suspected it): it ran to an end. Kept for jobs still pending or failed,
    // so that --retry-failed runs a job failed E_PROCESS_DIED alone, as in the ledger it failed in.
    db.exec(
      `DELETE FROM suspects WHERE NOT EXISTS (
         SELECT 1 FROM jobs j WHERE j.image_id = suspects.image_id AND j.task = suspects.task AND j.state <> 'done')`,
    );
    // Last look, so that a signal taken during a merge too short to reach the first look rolls it back too.
    await stopIfAsked(target, stop);
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
  return report;
}
