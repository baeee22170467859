/**
 * The ledger's schema, as numbered migrations. `PRAGMA user_version` records how many have
 * run; a ledger from a newer imgpipe is refused rather than misread.
 */

/** 'imgp': tells an imgpipe ledger from any other SQLite file. */
export const APPLICATION_ID = 0x696d6770;

export const MIGRATIONS: readonly string[] = [
  // 1: images, jobs, runs, lock
  `
  CREATE TABLE images (
    id         INTEGER PRIMARY KEY,
    key        TEXT NOT NULL UNIQUE,
    path       TEXT NOT NULL,
    size       INTEGER,
    mtime_ms   REAL,
    sha256     TEXT,
    seen_run   INTEGER
  );
  CREATE INDEX images_sha256 ON images(sha256) WHERE sha256 IS NOT NULL;

  CREATE TABLE jobs (
    image_id       INTEGER NOT NULL REFERENCES images(id),
    task           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    task_version   INTEGER,
    options_hash   TEXT,
    input_size     INTEGER,
    input_mtime_ms REAL,
    input_sha256   TEXT,
    result         TEXT,
    artifacts      TEXT,
    error_code     TEXT,
    error_message  TEXT,
    run_id         INTEGER,
    started_at     TEXT,
    finished_at    TEXT,
    duration_ms    REAL,
    PRIMARY KEY (image_id, task)
  ) WITHOUT ROWID;
  CREATE INDEX jobs_task_state ON jobs(task, state);

  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    argv        TEXT NOT NULL,
    cwd         TEXT,
    tasks       TEXT NOT NULL,
    shard       TEXT,
    host        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    imgpipe     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    ended_at    TEXT,
    status      TEXT NOT NULL DEFAULT 'running',
    duration_ms REAL,
    counts      TEXT
  );

  CREATE TABLE lock (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    run_id       INTEGER,
    acquired_at  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
  );
  `,
  // 2: a job's vector (JobOutput.vector): float32 values, little-endian, 4 bytes each. The last
  // column, so that reading the others never touches its overflow pages.
  `
  ALTER TABLE jobs ADD COLUMN vector BLOB;
  `,
  // 3: suspects, the jobs that were running when a process died (Ledger.recoverOrphans). A table of
  // its own, not columns of jobs: a column after the vector would make reading it walk the
  // vector's overflow pages, and it holds a handful of rows at most.
  `
  CREATE TABLE suspects (
    image_id INTEGER NOT NULL,
    task     TEXT NOT NULL,
    deaths   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (image_id, task)
  ) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
