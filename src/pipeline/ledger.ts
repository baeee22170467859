/**
 * The ledger: one SQLite file (WAL) that records every image, every (image, task) job and
 * every run. Only the main thread writes, in batched transactions; a run killed at any
 * moment leaves it consistent, and the next run picks up exactly what is missing.
 */
import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { fileIdentity } from './file-identity.js';
import { companionProblem } from './ledger-companions.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './ledger-schema.js';
import type { ImageRef, JobState } from './types.js';

export type DB = Database.Database;

export interface ImageRow {
  id: number;
  key: string;
  path: string;
  size: number | null;
  mtimeMs: number | null;
  sha256: string | null;
  seenRun: number | null;
}

export interface JobRow {
  task: string;
  state: JobState;
  attempts: number;
  taskVersion: number | null;
  optionsHash: string | null;
  inputSize: number | null;
  inputMtimeMs: number | null;
  inputSha256: string | null;
  /** JSON list of the artefacts a done job wrote, relative to --out; null when none. */
  artifacts: string | null;
  errorCode: ErrorCode | null;
  /** Running when a process died (see `recoverOrphans`): it runs alone until it settles. */
  suspect: boolean;
}

/** What `recoverOrphans` found: jobs a dead process left running. */
export interface OrphanRecovery {
  /** Back to pending, as suspects. */
  suspects: number;
  /** Failed E_PROCESS_DIED: the process died once too often while each ran alone. */
  failed: number;
}

export interface ImageLookup {
  ref: ImageRef;
  image: ImageRow;
  /** Size or mtime differ from what the ledger knew: the content may have changed. */
  changed: boolean;
  /** The key was already taken in this run by another path: the image is not processed. */
  duplicateOf?: string;
  /** The same key and path came twice in this run (overlapping inputs): already handled. */
  repeat: boolean;
  jobs: Map<string, JobRow>;
}

export interface RunInfo {
  argv: string[];
  cwd: string;
  tasks: string[];
  shard: string | null;
  version: string;
}

/**
 * The whole row of one job, as the scheduler knows it. Every state change writes the full row,
 * so that changes of one job within a flush collapse into one statement (pending, running and
 * done of a fast job cost one write, not three).
 */
export interface JobWrite {
  imageId: number;
  task: string;
  state: JobState;
  /** Finished tries. */
  attempts: number;
  taskVersion: number | null;
  optionsHash: string | null;
  /** What the last try read; the hash is unknown when reading failed. */
  input: { size: number; mtimeMs: number; sha256: string | null } | undefined;
  /** JSON text, as serialised by the worker. */
  resultJson: string | null;
  /** The float32 bytes of the job's vector, if its task produced one. */
  vector: Uint8Array | null;
  artifacts: readonly string[];
  errorCode: ErrorCode | null;
  errorMessage: string | null;
  runId: number;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

/**
 * SQLite's page cache for `run`, in KiB. better-sqlite3 builds SQLite with 16 MB, which a run
 * filled as the ledger grew (peak RSS +16 MB from 1,000 to 30,000 images); a run appends, and
 * reads only the index pages of the folder being scanned, so 2 MB (SQLite's own default) costs
 * it nothing measurable. `merge` keeps the 16 MB: it inserts other ledgers' keys all over the
 * index, and ran 10 % slower with 2 MB (30,000 images).
 */
export const RUN_PAGE_CACHE_KB = 2_000;

const LOCK_STALE_MS = 30_000;
/** How long a writer waits for another's write lock (SQLite's busy_timeout), and for a busy open. */
const BUSY_TIMEOUT_MS = 5_000;
const HEARTBEAT_MS = 5_000;
const FLUSH_SIZE = 1_000;
/** The most a kill -9 can lose of finished work: results wait at most this long for a write. */
const FLUSH_MS = 100;

function now(): string {
  return new Date().toISOString();
}

/**
 * How a command names its ledgers, for the advice in errors: `run`, `status` and the rest take
 * `--db`; `merge` takes ledger files as arguments.
 */
export type LedgerArgument = '--db' | 'merge';

function passAnother(argument: LedgerArgument): string {
  return argument === '--db' ? 'pass another --db' : 'name another ledger file';
}

/** Maps SQLite's errors on opening to messages that say what to do. */
function openError(file: string, error: unknown, argument: LedgerArgument): UsageError {
  const err = error as { code?: string; message?: string };
  // What SQLite reports as a read-only ledger (or one it cannot open) may be its -wal or -shm, left
  // by another user: named first, since the ledger itself is then fine.
  if (err.code?.startsWith('SQLITE_READONLY') || err.code === 'SQLITE_CANTOPEN') {
    const companions = companionProblem(file);
    if (companions) return new UsageError(companions);
  }
  switch (err.code) {
    case 'SQLITE_NOTADB':
      return new UsageError(`${file} is not an imgpipe ledger (not a SQLite database); ${passAnother(argument)}`);
    case 'SQLITE_CORRUPT':
      return new UsageError(`ledger ${file} is corrupted (${err.message}); restore a copy or start a new ledger with --db`);
    case 'SQLITE_READONLY':
    case 'SQLITE_READONLY_DBMOVED':
    case 'SQLITE_READONLY_DIRECTORY':
      return readOnly(file);
    case 'SQLITE_CANTOPEN':
      // A WAL ledger needs its -shm file beside it, even to be read: on read-only media or in a
      // read-only folder, opening fails this way.
      return existsSync(file) && !writable(file) ? readOnly(file) : new UsageError(`cannot open ledger ${file} (check the path and its permissions)`);
    case 'SQLITE_FULL':
      return new UsageError(`ledger ${file}: its disk is full; free space and run again`);
    case 'SQLITE_BUSY':
      return new UsageError(`ledger ${file} is busy (another process is writing it); try again`);
    default:
      return new UsageError(`cannot use ledger ${file}: ${err.message ?? String(error)}`);
  }
}

function readOnly(file: string): UsageError {
  return new UsageError(
    `ledger ${file} is read-only (or its folder is): run and merge write it, and SQLite writes beside it even to read it; check the permissions, or copy it to a writable folder`,
  );
}

function writable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    accessSync(path.dirname(path.resolve(file)), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function checkIdentity(db: DB, file: string, argument: LedgerArgument): number {
  // One read transaction, so all three come from one state of the file: read apart, a process
  // creating the ledger at the same moment could commit its tables between them.
  const { applicationId, version, tables } = db.transaction(() => ({
    applicationId: db.pragma('application_id', { simple: true }) as number,
    version: db.pragma('user_version', { simple: true }) as number,
    tables: (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n,
  }))();
  if (applicationId !== APPLICATION_ID && tables > 0) {
    throw new UsageError(`${file} is a SQLite database but not an imgpipe ledger; ${passAnother(argument)}`);
  }
  if (version > SCHEMA_VERSION) {
    throw new UsageError(
      `ledger ${file} has schema version ${version}, newer than this imgpipe understands (${SCHEMA_VERSION}); upgrade imgpipe`,
    );
  }
  return version;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a live pid could be an imgpipe writer: its command line (Linux's /proc) runs Node or
 * names imgpipe. Where it cannot be read, it may be.
 */
function mayBeImgpipe(pid: number): boolean {
  let commandLine: string;
  try {
    commandLine = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return true;
  }
  const [program = '', ...args] = commandLine.split('\0');
  return /node|imgpipe/i.test(path.basename(program)) || args.some((arg) => /imgpipe/i.test(arg));
}

type WriteOp = [Database.Statement, unknown[]];

export class Ledger {
  private readonly pendingWrites: WriteOp[] = [];
  private readonly jobWrites = new Map<string, unknown[]>();
  private flushTimer: NodeJS.Timeout | undefined;
  private lastHeartbeat = 0;
  private lockHeld = false;
  /** Set once another process is found holding this writer's lock: nothing more is written. */
  private lockLost: UsageError | undefined;
  private readonly host = hostname();
  private readonly statements = new Map<string, Database.Statement>();
  /**
   * Set by `acquireLock`: the lock was taken over from a run that died (or jobs were left
   * running). The next run then writes each job's start before the job starts: see `recoverOrphans`.
   */
  previousRunDied = false;

  private constructor(
    readonly db: DB,
    readonly file: string,
    /** The writer's file (see `checkStillThere`); undefined for readers. */
    private readonly opened?: { path: string; identity: string | undefined },
  ) {}

  /** Opens (creating if needed) for `run` and `merge`; `pageCacheKb` replaces SQLite's page cache size. */
  static openForWrite(file: string, options: { pageCacheKb?: number; argument?: LedgerArgument } = {}): Ledger {
    const argument = options.argument ?? '--db';
    const dir = path.dirname(path.resolve(file));
    if (!existsSync(dir)) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (error) {
        throw new UsageError(`cannot create the ledger's folder ${dir}: ${(error as Error).message}`);
      }
    }
    // Two processes opening a new ledger at the same moment can get SQLITE_BUSY from the journal
    // mode switch without SQLite's busy handler waiting (seen in about 1 start in 20): open again.
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        return Ledger.tryOpenForWrite(file, options.pageCacheKb, argument);
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) {
          throw error instanceof UsageError ? error : openError(file, error, argument);
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 + Math.random() * 80);
      }
    }
  }

  private static tryOpenForWrite(file: string, pageCacheKb: number | undefined, argument: LedgerArgument): Ledger {
    let db: DB | undefined;
    try {
      db = new Database(file);
      // First, so that a second imgpipe starting at the same moment waits instead of failing.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const version = checkIdentity(db, file, argument);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      if (pageCacheKb !== undefined) db.pragma(`cache_size = -${pageCacheKb}`);
      if (version < SCHEMA_VERSION) {
        db.transaction(() => {
          // Read again under the write lock: a process starting at the same moment may have migrated it.
          const current = db!.pragma('user_version', { simple: true }) as number;
          if (current >= SCHEMA_VERSION) return;
          for (const sql of MIGRATIONS.slice(current)) db!.exec(sql);
          db!.pragma(`application_id = ${APPLICATION_ID}`);
          db!.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
      db.prepare('SELECT count(*) FROM jobs').get();
      return new Ledger(db, file, { path: path.resolve(file), identity: fileIdentity(file) });
    } catch (error) {
      db?.close();
      throw error;
    }
  }

  /** Opens an existing ledger without writing it, for `status` and `export`. */
  static openForRead(file: string, argument: LedgerArgument = '--db'): Ledger {
    if (!existsSync(file)) {
      throw new UsageError(`no ledger at ${file} (${argument === '--db' ? 'run imgpipe run first, or pass --db FILE' : 'check the path'})`);
    }
    let db: DB | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      const version = checkIdentity(db, file, argument);
      // Version 0 is no schema at all (an empty file, `touch imgpipe.db`, a copy that failed), not an old ledger to upgrade.
      if (version === 0) {
        const next = argument === '--db' ? 'run imgpipe run with this --db first, or pass another --db' : passAnother(argument);
        throw new UsageError(`${file} is empty, not an imgpipe ledger (no run has written it); ${next}`);
      }
      if (version < SCHEMA_VERSION) {
        throw new UsageError(`ledger ${file} has schema version ${version}; run imgpipe run on it once to upgrade it`);
      }
      db.prepare('SELECT count(*) FROM jobs').get();
      return new Ledger(db, file);
    } catch (error) {
      db?.close();
      throw error instanceof UsageError ? error : openError(file, error, argument);
    }
  }

  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  // ---- the single-writer lock -------------------------------------------------------------

  /**
   * One process writes a ledger at a time. A lock is taken over when its holder stopped
   * heartbeating (another host), or, on this host, when its pid is gone, or when its heartbeat is
   * stale and the pid now runs something that is not Node (pid reuse after a crash or a reboot:
   * the pid of a `sleep`). A live Node process with a stale heartbeat keeps the lock: `merge`
   * does not heartbeat, and a busy writer may miss a few.
   */
  acquireLock(): void {
    const host = hostname();
    try {
      this.db
        .transaction(() => {
          const held = this.db.prepare('SELECT host, pid, run_id AS runId, heartbeat_at AS heartbeatAt FROM lock WHERE id = 1').get() as
            | { host: string; pid: number; runId: number | null; heartbeatAt: string }
            | undefined;
          if (held) {
            const sameHost = held.host === host;
            const fresh = Date.now() - Date.parse(held.heartbeatAt) < LOCK_STALE_MS;
            const alive = sameHost ? held.pid !== process.pid && isAlive(held.pid) && (fresh || mayBeImgpipe(held.pid)) : fresh;
            if (alive) {
              throw new UsageError(
                `ledger ${this.file} is in use by imgpipe process ${held.pid} on ${held.host}; ` +
                  `wait for it to finish or use another --db` +
                  (sameHost ? '' : ` (a lock from another host is released ${LOCK_STALE_MS / 1000} s after its last heartbeat)`),
              );
            }
          }
          // Whoever takes the lock is the only writer: a run still `running` died without ending its row.
          this.previousRunDied = this.endKilledRuns(held) > 0;
          this.db
            .prepare(
              `INSERT INTO lock (id, host, pid, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)
               ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,
                 acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, run_id = NULL`,
            )
            .run(host, process.pid, now(), now());
        })
        .immediate();
    } catch (error) {
      throw error instanceof UsageError ? error : openError(this.file, error, '--db');
    }
    this.lockHeld = true;
    this.lastHeartbeat = Date.now();
  }

  /**
   * Runs left `running` by a process that stopped without ending them (kill -9, a crash, a lost
   * machine) become `killed`, so that `status` does not show them running forever. The run named
   * by the lock taken over ends at its last heartbeat, its last sign of life. One that died before
   * its first heartbeat since it started, or another (its lock already taken over before runs were
   * ended this way), has no known end: NULL, not its start, which would read as a run of 0 s.
   */
  private endKilledRuns(held: { runId: number | null; heartbeatAt: string } | undefined): number {
    const runs = this.db.prepare("SELECT id, started_at AS startedAt FROM runs WHERE status = 'running'").all() as { id: number; startedAt: string }[];
    const end = this.db.prepare("UPDATE runs SET status = 'killed', ended_at = ?, duration_ms = ? WHERE id = ?");
    for (const run of runs) {
      // The lock's first heartbeat is taken just before the run starts: no sign of life in the run.
      const lastSign = run.id === held?.runId && held.heartbeatAt > run.startedAt ? held.heartbeatAt : null;
      end.run(lastSign, lastSign === null ? null : Math.max(0, Date.parse(lastSign) - Date.parse(run.startedAt)), run.id);
    }
    return runs.length;
  }

  releaseLock(): void {
    if (!this.lockHeld) return;
    this.db.prepare('DELETE FROM lock WHERE id = 1 AND pid = ? AND host = ?').run(process.pid, this.host);
    this.lockHeld = false;
  }

  // ---- runs ----------------------------------------------------------------------------------

  startRun(info: RunInfo): number {
    const row = this.db
      .prepare(
        `INSERT INTO runs (argv, cwd, tasks, shard, host, pid, imgpipe, started_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .get(JSON.stringify(info.argv), info.cwd, info.tasks.join(','), info.shard, hostname(), process.pid, info.version, now()) as {
      id: number;
    };
    this.db.prepare('UPDATE lock SET run_id = ? WHERE id = 1').run(row.id);
    return row.id;
  }

  /** `counts`: null for a run that failed before it could count. */
  finishRun(runId: number, status: string, durationMs: number, counts: object | null): void {
    this.flush();
    // Also here, not only at the heartbeat: a ledger deleted in a run's last seconds is lost just the same.
    this.checkStillThere();
    this.checkLockHeld();
    this.db
      .prepare('UPDATE runs SET ended_at = ?, status = ?, duration_ms = ?, counts = ? WHERE id = ?')
      .run(now(), status, durationMs, counts === null ? null : JSON.stringify(counts), runId);
  }

  /**
   * Jobs this process leaves `running` as it stops in order (an error, a signal): pending again,
   * their try not counted (attempts count finished tries only). Not suspects: nothing died.
   */
  resetOrphans(): number {
    return this.db.prepare("UPDATE jobs SET state = 'pending', started_at = NULL WHERE state = 'running'").run().changes;
  }

  /**
   * At the start of a run: jobs left `running` by a process that died (kill -9, a lost machine, or
   * a job that took the whole process down: a native crash, the OOM killer, an abort()). We hold
   * the lock, so nobody runs them. A job cannot be told from the others that were running, so each
   * becomes a suspect: pending, its try not counted (attempts count finished tries), and run alone
   * (the scheduler starts it with nothing else in flight, its start written first). A suspect found
   * running was therefore alone when the process died: that death is its own, and counted. Deaths
   * among other jobs count for none of them, so a kill -9 of a healthy run costs its jobs nothing
   * but a run alone each. At `maxDeaths` (--max-attempts) deaths the job fails E_PROCESS_DIED and
   * the next runs get past it; it stays a suspect, so that --retry-failed tries it alone again.
   */
  recoverOrphans(maxDeaths: number): OrphanRecovery {
    return this.db.transaction((): OrphanRecovery => {
      const running = "SELECT image_id, task FROM jobs WHERE state = 'running'";
      this.db.prepare(`UPDATE suspects SET deaths = deaths + 1 WHERE (image_id, task) IN (${running})`).run();
      const failed = this.db
        .prepare(
          `UPDATE jobs SET state = 'failed', finished_at = ?, duration_ms = NULL, error_code = 'E_PROCESS_DIED',
             error_message = 'the whole process died ' || s.deaths || ' times while this job ran alone (a native crash in a ' ||
               'decoder or model, the kernel''s OOM killer, an abort() in a native library); --retry-failed tries it again'
           FROM suspects s
           WHERE jobs.state = 'running' AND s.image_id = jobs.image_id AND s.task = jobs.task AND s.deaths >= ?`,
        )
        .run(now(), maxDeaths).changes;
      // Kept as suspects (a --retry-failed try runs alone), their count started afresh.
      this.db.prepare('UPDATE suspects SET deaths = 0 WHERE deaths >= ?').run(maxDeaths);
      this.db.prepare(`INSERT OR IGNORE INTO suspects (image_id, task) ${running}`).run();
      const suspects = this.db.prepare("UPDATE jobs SET state = 'pending', started_at = NULL WHERE state = 'running'").run().changes;
      if (suspects > 0 || failed > 0) this.previousRunDied = true;
      return { suspects, failed };
    }).immediate();
  }

  /** A suspect that ran to an end (done, or failed by a try of its own) is no longer one. */
  clearSuspect(imageId: number, task: string): void {
    this.enqueue(this.stmt('DELETE FROM suspects WHERE image_id = ? AND task = ?'), [imageId, task]);
  }

  // ---- scanning --------------------------------------------------------------------------------

  /** Records a batch of scanned images and returns what the ledger knows of each and its jobs. */
  lookupImages(refs: readonly ImageRef[], runId: number): ImageLookup[] {
    const select = this.stmt(
      'SELECT id, key, path, size, mtime_ms AS mtimeMs, sha256, seen_run AS seenRun FROM images WHERE key = ?',
    );
    const insert = this.stmt('INSERT INTO images (key, path, size, mtime_ms, seen_run) VALUES (?, ?, ?, ?, ?) RETURNING id');
    const touch = this.stmt('UPDATE images SET path = ?, seen_run = ? WHERE id = ?');
    const changed = this.stmt('UPDATE images SET path = ?, size = ?, mtime_ms = ?, sha256 = NULL, seen_run = ? WHERE id = ?');
    const jobs = this.stmt(
      `SELECT task, state, attempts, task_version AS taskVersion, options_hash AS optionsHash, input_size AS inputSize,
              input_mtime_ms AS inputMtimeMs, input_sha256 AS inputSha256, artifacts, error_code AS errorCode,
              EXISTS (SELECT 1 FROM suspects s WHERE s.image_id = jobs.image_id AND s.task = jobs.task) AS suspect
       FROM jobs WHERE image_id = ?`,
    );
    // IMMEDIATE, here and in flush: a transaction that reads and then writes gets SQLITE_BUSY at
    // once, without the busy timeout, when another connection wrote in between (a second imgpipe
    // opening the ledger at the same moment); taking the write lock first makes it wait instead.
    return this.db.transaction(() =>
      refs.map((ref): ImageLookup => {
        const row = select.get(ref.key) as ImageRow | undefined;
        if (!row) {
          const { id } = insert.get(ref.key, ref.path, ref.size, ref.mtimeMs, runId) as { id: number };
          const image = { id, key: ref.key, path: ref.path, size: ref.size, mtimeMs: ref.mtimeMs, sha256: null, seenRun: runId };
          return { ref, image, changed: false, repeat: false, jobs: new Map() };
        }
        if (row.seenRun === runId) {
          if (row.path !== ref.path) return { ref, image: row, changed: false, repeat: false, duplicateOf: row.path, jobs: new Map() };
          return { ref, image: row, changed: false, repeat: true, jobs: new Map() };
        }
        const isChanged = row.size !== ref.size || row.mtimeMs !== ref.mtimeMs;
        if (isChanged) changed.run(ref.path, ref.size, ref.mtimeMs, runId, row.id);
        else touch.run(ref.path, runId, row.id);
        const image: ImageRow = isChanged
          ? { ...row, path: ref.path, size: ref.size, mtimeMs: ref.mtimeMs, sha256: null, seenRun: runId }
          : { ...row, path: ref.path, seenRun: runId };
        const jobRows = new Map<string, JobRow>();
        for (const job of jobs.all(row.id) as (Omit<JobRow, 'suspect'> & { suspect: number })[]) jobRows.set(job.task, { ...job, suspect: job.suspect === 1 });
        return { ref, image, changed: isChanged, repeat: false, jobs: jobRows };
      }),
    ).immediate();
  }

  setImageSha(imageId: number, sha256: string): void {
    this.enqueue(this.stmt('UPDATE images SET sha256 = ? WHERE id = ? AND sha256 IS NULL'), [sha256, imageId]);
  }

  /** A job whose done result is still valid for a changed-then-restored file: note its new stat. */
  refreshJobIdentity(imageId: number, task: string, size: number | null, mtimeMs: number | null): void {
    this.enqueue(this.stmt('UPDATE jobs SET input_size = ?, input_mtime_ms = ? WHERE image_id = ? AND task = ?'), [
      size,
      mtimeMs,
      imageId,
      task,
    ]);
  }

  /** A done job's result as stored (JSON text) and its vector's bytes, if any. */
  outputOf(imageId: number, task: string): { result: string; vector: Buffer | null } {
    this.flush();
    const row = this.stmt("SELECT result, vector FROM jobs WHERE image_id = ? AND task = ? AND state = 'done'").get(imageId, task) as
      | { result: string | null; vector: Buffer | null }
      | undefined;
    return { result: row?.result ?? 'null', vector: row?.vector ?? null };
  }

  // ---- job state changes (buffered, coalesced per job) ------------------------------------------

  writeJob(job: JobWrite): void {
    this.jobWrites.set(`${job.imageId}\u0000${job.task}`, [
      job.imageId,
      job.task,
      job.state,
      job.attempts,
      job.taskVersion,
      job.optionsHash,
      job.input?.size ?? null,
      job.input?.mtimeMs ?? null,
      job.input?.sha256 ?? null,
      job.resultJson,
      job.artifacts.length > 0 ? JSON.stringify(job.artifacts) : null,
      job.errorCode,
      job.errorMessage,
      job.runId,
      job.startedAt,
      job.finishedAt,
      job.durationMs,
      job.vector,
    ]);
    this.scheduleFlush();
  }

  // ---- batching --------------------------------------------------------------------------------------

  private enqueue(statement: Database.Statement, params: unknown[]): void {
    this.pendingWrites.push([statement, params]);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.pendingWrites.length + this.jobWrites.size >= FLUSH_SIZE) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  /** Writes everything queued in one transaction. */
  flush(): void {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    if (this.lockLost) throw this.lockLost;
    if (this.pendingWrites.length === 0 && this.jobWrites.size === 0 && !this.heartbeatDue()) return;
    if (this.heartbeatDue()) this.checkStillThere();
    const ops = this.pendingWrites.splice(0);
    const jobs = [...this.jobWrites.values()];
    this.jobWrites.clear();
    // An upsert, not INSERT OR REPLACE: replacing deletes and reinserts (index work included), three times slower.
    const upsert = this.stmt(
      `INSERT INTO jobs (image_id, task, state, attempts, task_version, options_hash, input_size, input_mtime_ms,
         input_sha256, result, artifacts, error_code, error_message, run_id, started_at, finished_at, duration_ms, vector)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (image_id, task) DO UPDATE SET state = excluded.state, attempts = excluded.attempts,
         task_version = excluded.task_version, options_hash = excluded.options_hash, input_size = excluded.input_size,
         input_mtime_ms = excluded.input_mtime_ms, input_sha256 = excluded.input_sha256, result = excluded.result,
         artifacts = excluded.artifacts, error_code = excluded.error_code, error_message = excluded.error_message,
         run_id = excluded.run_id, started_at = excluded.started_at, finished_at = excluded.finished_at,
         duration_ms = excluded.duration_ms, vector = excluded.vector`,
    );
    this.db.transaction(() => {
      for (const [statement, params] of ops) statement.run(...params);
      for (const params of jobs) upsert.run(...params);
      if (this.heartbeatDue()) {
        // Host too: in containers another host's writer may have this very pid (1).
        const beat = this.stmt('UPDATE lock SET heartbeat_at = ? WHERE id = 1 AND pid = ? AND host = ?').run(now(), process.pid, this.host);
        if (beat.changes === 0) this.checkLockHeld();
        this.lastHeartbeat = Date.now();
      }
    }).immediate();
  }

  private heartbeatDue(): boolean {
    return this.lockHeld && Date.now() - this.lastHeartbeat > HEARTBEAT_MS;
  }

  /**
   * A ledger deleted (or replaced) under a running writer does not fail its writes: SQLite
   * goes on writing the unlinked file through its open descriptors, and the run would end with
   * exit 0 and every record gone with the file. Checked at the heartbeat (one stat every few
   * seconds), so that the run stops instead. Exit 2, like the ledger's other problems found
   * mid-run (a full disk, a file made read-only): the ledger, not an image, failed, and nothing
   * more can be recorded.
   */
  private checkStillThere(): void {
    if (!this.opened || !this.lockHeld) return;
    const current = fileIdentity(this.opened.path);
    if (current === this.opened.identity) return;
    throw new UsageError(
      `ledger ${this.file} was ${current === undefined ? 'deleted' : 'replaced by another file'} while this run was writing it: ` +
        `what it held went with that file and nothing more can be recorded, so the run stops (run again to start a new ledger)`,
    );
  }

  /**
   * Another writer takes a lock over once its heartbeat is 30 s old (on another host; on this one
   * only from a dead pid): this process was stopped (Ctrl-Z, SIGSTOP), suspended, or cut off from
   * the ledger's file system that long. Going on would make two writers, each running and
   * resetting the other's jobs: the run stops instead, and writes nothing more (this batch
   * included: it is rolled back).
   */
  private checkLockHeld(): void {
    if (!this.lockHeld) return;
    const held = this.stmt('SELECT host, pid FROM lock WHERE id = 1').get() as { host: string; pid: number } | undefined;
    if (held?.host === this.host && held.pid === process.pid) return;
    this.lockHeld = false;
    this.lockLost = new UsageError(
      `ledger ${this.file} was ${held ? `taken over by imgpipe process ${held.pid} on ${held.host}` : 'unlocked by another process'} while this run was writing it ` +
        `(this run went ${LOCK_STALE_MS / 1000} s without a heartbeat: stopped, suspended or cut off), so the run stops: one process writes a ledger at a time`,
    );
    throw this.lockLost;
  }

  close(): void {
    try {
      this.flush();
      this.releaseLock();
    } finally {
      this.db.close();
    }
  }
}
