/**
 * The README's "Failure and recovery" guarantees that the other suites do not already prove:
 * one writer per ledger, an unwritable or full --out, keys that try to leave --out, and ledgers
 * that are read-only, damaged or from a newer imgpipe.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { prng } from '../fixtures/make-fixtures.js';
import { cli, collect, doneCount, FIXTURES, makeImages, query, scratch, sleep, startCli, summaryOf, waitForDone, type CliResult } from './helpers.js';

const ROOT_USER = process.getuid?.() === 0;

/** Mounts a tmpfs (root only, and only where mounts are allowed); undefined when it cannot. */
function tmpfs(dir: string, options: string): (() => void) | undefined {
  if (!ROOT_USER) return undefined;
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return () => execFileSync('umount', [dir], { stdio: 'ignore' });
}
const CAN_MOUNT = (() => {
  const probe = scratch('imgpipe-mount-probe-');
  const unmount = tmpfs(path.join(probe, 'm'), 'size=64k');
  unmount?.();
  return unmount !== undefined;
})();

/** Files under a folder, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}



/** An exit 2 with a single clear line on stderr, and no stack trace. */
function expectUsageError(result: { code: number | null; stderr: string }, message: RegExp): void {
  expect(result.code, result.stderr).toBe(2);
  expect(result.stderr).toMatch(/^imgpipe: error: [^\n]+\n$/);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('one writer per ledger', () => {
  it('a second imgpipe run on a ledger in use exits 2 at once, naming the first; the first finishes untouched', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    await makeImages(input, 60);
    const db = path.join(work, 'l.db');
    const args = ['run', input, '--tasks', 'preprocess,meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'];
    const first = startCli(args);
    const firstDone = collect(first);
    for (let i = 0; i < 1000 && doneCount(db) < 5; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    const started = Date.now();
    const second = await cli(args);
    expectUsageError(second, new RegExp(`ledger .*l\\.db is in use by imgpipe process ${first.pid} on `));
    expect(Date.now() - started).toBeLessThan(10_000);
    const finished = await firstDone;
    expect(finished.code, finished.stderr).toBe(0);
    expect(query(db, 'SELECT pid, status FROM runs')).toEqual([{ pid: first.pid, status: 'completed' }]);
    expect(query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done' AND attempts = 1")).toEqual([{ n: 120 }]);
  });

  it('two started at the same moment on a new ledger: one runs, the other exits 2 "in use"', async () => {
    // Several rounds: the races this guards against (a busy journal switch, an identity read
    // between another's commits) showed in about 1 start in 15.
    for (let round = 0; round < 5; round += 1) {
      const work = scratch();
      const db = path.join(work, 'l.db');
      const args = ['run', path.join(FIXTURES, 'photos'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'];
      const results = await Promise.all([cli(args), cli(args)]);
      expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr).join('')).toEqual([0, 2]);
      expectUsageError(results.find((r) => r.code === 2)!, /is in use by imgpipe process/);
    }
  });

  it('a run killed (kill -9) is recorded killed by the writer that takes its lock over, ending at its last heartbeat, or at an unknown time (not 0 s) before its first', async () => {
    const work = scratch();
    const red = path.join(FIXTURES, 'colours', readdirSync(path.join(FIXTURES, 'colours'))[0]!);
    // Reading paths from a stdin left open, a run waits, holding the lock, until it is killed.
    const killedRun = async (db: string): Promise<{ startedAt: string; heartbeatAt: string }> => {
      const first = startCli(['run', '-', '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], { keepStdinOpen: true });
      const killed = collect(first);
      while (!existsSync(db) || query(db, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'runs'")[0]!.n === 0 || query(db, 'SELECT count(*) AS n FROM runs')[0]!.n === 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      first.kill('SIGKILL');
      expect((await killed).signal).toBe('SIGKILL');
      expect(query(db, 'SELECT id, status FROM runs')).toEqual([{ id: 1, status: 'running' }]);
      return query<{ startedAt: string; heartbeatAt: string }>(db, 'SELECT r.started_at AS startedAt, l.heartbeat_at AS heartbeatAt FROM runs r, lock l')[0]!;
    };
    const runs = (db: string) => query<{ id: number; status: string; endedAt: string | null; durationMs: number | null }>(db, 'SELECT id, status, ended_at AS endedAt, duration_ms AS durationMs FROM runs ORDER BY id');

    // Killed within milliseconds of its start, long before a heartbeat (every 5 s): its end is not known.
    // A shard run from before is merged in, so that the killed run stays the one status shows.
    const shard = path.join(work, 'shard.db');
    expect((await cli(['run', red, '--tasks', 'meta', '--db', shard, '--out', path.join(work, 'out'), '--quiet'])).code).toBe(0);
    const early = path.join(work, 'early.db');
    const lock = await killedRun(early);
    expect(lock.heartbeatAt <= lock.startedAt).toBe(true);
    const merged = await cli(['merge', early, shard]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(runs(early)[0]).toEqual({ id: 1, status: 'killed', endedAt: null, durationMs: null });
    const status = await cli(['status', '--db', early]);
    expect(status.stdout).toMatch(new RegExp(`^last run: #1 killed, started ${lock.startedAt}, end unknown on `, 'm'));
    const json = JSON.parse((await cli(['status', '--db', early, '--json'])).stdout) as { lastRun: Record<string, unknown> };
    expect(json.lastRun).toMatchObject({ id: 1, status: 'killed', startedAt: lock.startedAt, endedAt: null, durationSeconds: null });

    // One whose lock heartbeat 1.5 s into it (written here: the process is gone) ended then.
    const late = path.join(work, 'late.db');
    const { startedAt } = await killedRun(late);
    const heartbeatAt = new Date(Date.parse(startedAt) + 1500).toISOString();
    const connection = new Database(late);
    connection.prepare('UPDATE lock SET heartbeat_at = ?').run(heartbeatAt);
    connection.close();
    const second = await cli(['run', '-', '--tasks', 'meta', '--db', late, '--out', path.join(work, 'out'), '--quiet'], { input: `${red}\n` });
    expect(second.code, second.stderr).toBe(0);
    expect(runs(late)).toEqual([
      { id: 1, status: 'killed', endedAt: heartbeatAt, durationMs: 1500 },
      { id: 2, status: 'completed', endedAt: expect.any(String), durationMs: expect.any(Number) },
    ]);
  });

  it('a lock whose pid now belongs to an unrelated process (pid reuse) holds while its heartbeat is fresh, and is taken over once it is stale', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    const args = ['run', path.join(FIXTURES, 'colours'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'];
    expect((await cli(args)).code).toBe(0);
    const unrelated = spawn('sleep', ['120'], { stdio: 'ignore' });
    try {
      const lock = (heartbeatAgoMs: number): void => {
        const connection = new Database(db);
        connection
          .prepare('INSERT OR REPLACE INTO lock (id, host, pid, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)')
          .run(hostname(), unrelated.pid, new Date(Date.now() - 3_600_000).toISOString(), new Date(Date.now() - heartbeatAgoMs).toISOString());
        connection.close();
      };
      // Alive and heartbeating, as far as this host can tell: the pid cannot say whose it is.
      lock(0);
      expectUsageError(await cli(args), new RegExp(`in use by imgpipe process ${unrelated.pid} on `));
      // No heartbeat for a minute: no imgpipe writes this ledger, whoever has that pid now.
      lock(60_000);
      const taken = await cli([...args, '--force']);
      expect(taken.code, taken.stderr).toBe(0);
      expect(query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")).toEqual([{ n: 2 }]);
      expect(query(db, 'SELECT count(*) AS n FROM lock')).toEqual([{ n: 0 }]);
    } finally {
      unrelated.kill();
    }
  });

  it('a stale lock held by a live Node process is kept: merge does not heartbeat, and a busy writer may miss some', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    const args = ['run', path.join(FIXTURES, 'colours'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'];
    expect((await cli(args)).code).toBe(0);
    const node = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120_000)'], { stdio: 'ignore' });
    try {
      const connection = new Database(db);
      connection
        .prepare('INSERT OR REPLACE INTO lock (id, host, pid, acquired_at, heartbeat_at) VALUES (1, ?, ?, ?, ?)')
        .run(hostname(), node.pid, new Date(Date.now() - 3_600_000).toISOString(), new Date(Date.now() - 60_000).toISOString());
      connection.close();
      expectUsageError(await cli(args), new RegExp(`in use by imgpipe process ${node.pid} on `));
    } finally {
      node.kill();
    }
  });
});

describe('a lock taken over under a run', () => {
  it('a run whose lock another host took over (it went 30 s without a heartbeat: stopped, suspended, cut off) stops at its next heartbeat with exit 2, leaving that lock alone', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    const child = startCli(['run', '-', '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], { keepStdinOpen: true });
    const finished = collect(child);
    child.stdin!.write(`${path.join(FIXTURES, 'colours', 'red.png')}\n`);
    expect(await waitForDone(db, 1)).toBe(1);
    // What a writer on another host leaves once it has taken the lock over. Its pid is this run's:
    // in containers every imgpipe may be pid 1.
    const takenAt = new Date(Date.now() + 60_000).toISOString();
    const connection = new Database(db);
    connection.prepare('UPDATE lock SET host = ?, pid = ?, acquired_at = ?, heartbeat_at = ?, run_id = NULL').run('another-host', child.pid, takenAt, takenAt);
    connection.close();
    const stoppedAlone = await Promise.race([finished.then(() => true), sleep(20_000).then(() => false)]);
    child.stdin!.end();
    expectUsageError(await finished, /ledger .*l\.db was taken over by imgpipe process \d+ on another-host while this run was writing it/);
    expect(stoppedAlone).toBe(true);
    // The other writer's lock is as it left it: not refreshed, not released by this run.
    expect(query(db, 'SELECT host, heartbeat_at AS heartbeatAt FROM lock')).toEqual([{ host: 'another-host', heartbeatAt: takenAt }]);
  });
});

describe('a ledger deleted mid-run', () => {
  it('stops the run at the next heartbeat with exit 2 and one line, instead of exit 0 with every record gone', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    // Paths on stdin, kept open: the run waits for more (heartbeating) until the test closes it.
    const child = startCli(['run', '-', '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], { keepStdinOpen: true });
    const finished = collect(child);
    child.stdin!.write(`${path.join(FIXTURES, 'colours', 'red.png')}\n`);
    for (let i = 0; i < 3000 && doneCount(db) < 1; i += 1) await sleep(10);
    expect(doneCount(db)).toBe(1);
    for (const name of readdirSync(work).filter((entry) => entry.startsWith('l.db'))) rmSync(path.join(work, name));
    // A heartbeat is due within 10 s. Closing stdin after that would end the run normally (exit 0).
    const stoppedAlone = await Promise.race([finished.then(() => true), sleep(20_000).then(() => false)]);
    child.stdin!.end();
    expectUsageError(await finished, /ledger .*l\.db was deleted while this run was writing it: .* so the run stops/);
    expect(stoppedAlone).toBe(true);
  });
});

describe('an --out that cannot be written', () => {
  it('unwritable: the jobs that write fail E_WRITE, the others are done, and the run says so', async () => {
    const work = scratch();
    // A path through a regular file: unwritable for root too (ENOTDIR), unlike a chmod.
    writeFileSync(path.join(work, 'file'), 'not a folder');
    const out = path.join(work, 'file', 'out');
    const db = path.join(work, 'l.db');
    const result = await cli(['run', path.join(FIXTURES, 'colours'), '--tasks', 'preprocess,meta', '--db', db, '--out', out]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Failed in this run: E_WRITE 2\./);
    expect(result.stdout).toMatch(/2 jobs could not write their artefacts under --out .*file\/out \(disk full, not writable, or an artefact that would replace its own input\?\), e\.g\. "red(-blue)?\.png": cannot write .*ENOTDIR/);
    const rows = query<{ task: string; state: string; error_code: string | null }>(db, 'SELECT task, state, error_code FROM jobs ORDER BY task');
    expect(rows).toEqual([
      { task: 'meta', state: 'done', error_code: null },
      { task: 'meta', state: 'done', error_code: null },
      { task: 'preprocess', state: 'failed', error_code: 'E_WRITE' },
      { task: 'preprocess', state: 'failed', error_code: 'E_WRITE' },
    ]);
  });

  it.skipIf(!CAN_MOUNT)('a disk that fills up: the rest fail E_WRITE (ENOSPC), nothing half-written under a final name (needs root and mount; the ENOSPC unit test covers the rest)', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(input);
    // Noise does not compress: each PNG artefact is about 100 KB, so a 512 KB disk takes a few.
    for (let i = 0; i < 12; i += 1) {
      const random = prng(i + 1);
      const pixels = Buffer.from(Array.from({ length: 200 * 160 * 3 }, () => Math.floor(random() * 256)));
      await sharp(pixels, { raw: { width: 200, height: 160, channels: 3 } }).png().toFile(path.join(input, `noise-${i}.png`));
    }
    const disk = path.join(work, 'disk');
    const unmount = tmpfs(disk, 'size=512k')!;
    try {
      const db = path.join(work, 'l.db');
      const result = await cli(['run', input, '--tasks', 'preprocess', '--preprocess-format', 'png', '--db', db, '--out', disk, '--json']);
      expect(result.code).toBe(1);
      const rows = query<{ state: string; error_code: string | null; error_message: string | null; result: string | null }>(db, 'SELECT state, error_code, error_message, result FROM jobs');
      const done = rows.filter((r) => r.state === 'done');
      const failed = rows.filter((r) => r.state === 'failed');
      expect(done.length).toBeGreaterThan(0);
      expect(failed.length).toBeGreaterThan(0);
      expect(done.length + failed.length).toBe(12);
      for (const row of failed) expect([row.error_code, row.error_message]).toEqual(['E_WRITE', expect.stringMatching(/ENOSPC: no space left on device/)]);
      expect(summaryOf(result.stdout).failures).toEqual({ E_WRITE: failed.length });
      // Exactly the done jobs' artefacts are there, each whole; no temporary file is left.
      const outputs = done.map((r) => JSON.parse(r.result!) as { output: string; after: { bytes: number } });
      expect(filesUnder(disk)).toEqual(outputs.map((o) => o.output).sort());
      for (const output of outputs) {
        expect(statSync(path.join(disk, output.output)).size).toBe(output.after.bytes);
        await sharp(path.join(disk, output.output)).raw().toBuffer();
      }
    } finally {
      unmount();
    }
  });
});

describe('a ledger whose disk fills up', () => {
  it.skipIf(!CAN_MOUNT)('mid-run: exit 2 with one line, the ledger consistent; with room again the next run finishes, each job done once (needs root and mount)', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    await makeImages(input, 120);
    const disk = path.join(work, 'disk');
    // Room to create the ledger, not to record 120 images and their results.
    const unmount = tmpfs(disk, 'size=160k')!;
    try {
      const db = path.join(disk, 'l.db');
      const args = ['run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'];
      expectUsageError(await cli(args), /the ledger's disk is full \(database or disk is full\); free space and run again/);
      execFileSync('mount', ['-o', 'remount,size=8m', disk]);
      const resumed = await cli(args);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(query(db, 'SELECT state, attempts, count(*) AS n FROM jobs GROUP BY 1, 2')).toEqual([{ state: 'done', attempts: 1, n: 120 }]);
      const connection = new Database(db, { readonly: true });
      expect(connection.pragma('integrity_check', { simple: true })).toBe('ok');
      connection.close();
    } finally {
      unmount();
    }
  });
});

/** Copies every image of a ledger (and its jobs) `copies` times under new keys: a large ledger in milliseconds. */
function inflate(db: string, copies: number): number {
  const connection = new Database(db);
  try {
    connection.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${copies})
      INSERT INTO images (key, path, size, mtime_ms, sha256, seen_run) SELECT 'copy-' || n.i || '/' || key, path, size, mtime_ms, sha256, seen_run FROM images, n`);
    connection.exec(`INSERT INTO jobs (image_id, task, state, attempts, task_version, options_hash, input_size, input_mtime_ms, input_sha256, result, artifacts, run_id, started_at, finished_at, duration_ms)
      SELECT c.id, j.task, j.state, j.attempts, j.task_version, j.options_hash, j.input_size, j.input_mtime_ms, j.input_sha256, j.result, j.artifacts, j.run_id, j.started_at, j.finished_at, j.duration_ms
      FROM images c JOIN images o ON c.path = o.path AND c.key LIKE 'copy-%' AND o.key NOT LIKE 'copy-%' JOIN jobs j ON j.image_id = o.id`);
    return (connection.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n;
  } finally {
    connection.close();
  }
}

// Cron jobs and CI steps read the file once the export returns, or the next morning whatever happened:
// an export that was stopped or failed must leave the earlier file, never its own first half looking whole.
describe('an export --output that does not finish', () => {
  const EARLIER = '{"earlier":"export"}\n';
  async function bigLedger(work: string): Promise<{ db: string; jobs: number }> {
    const db = path.join(work, 'big.db');
    await makeImages(path.join(work, 'in'), 2, [32, 24]);
    const made = await cli(['run', path.join(work, 'in'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet']);
    expect(made.code, made.stderr).toBe(0);
    return { db, jobs: inflate(db, 10_000) };
  }
  const leftovers = (dir: string): string[] => readdirSync(dir).filter((name) => name.endsWith('.tmp'));

  it('stopped by SIGTERM: exit 130, the file still holds the earlier export, no temporary file is left', async () => {
    const work = scratch();
    const { db, jobs } = await bigLedger(work);
    const output = path.join(work, 'results.jsonl');
    writeFileSync(output, EARLIER);
    const child = startCli(['export', '--db', db, '--output', output]);
    const finished = collect(child);
    // Stop it once it writes: into its temporary file, or (as it used to) into the file itself.
    while (leftovers(work).length === 0 && readFileSync(output, 'utf8') === EARLIER) await new Promise((resolve) => setTimeout(resolve, 2));
    child.kill('SIGTERM');
    const stopped = await finished;
    expect({ code: stopped.code, signal: stopped.signal }, stopped.stderr).toEqual({ code: 130, signal: null });
    expect(readFileSync(output, 'utf8')).toBe(EARLIER);
    expect(leftovers(work)).toEqual([]);
    const whole = await cli(['export', '--db', db, '--output', output]);
    expect(whole.code, whole.stderr).toBe(0);
    expect(readFileSync(output, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line).state)).toEqual(Array(jobs).fill('done'));
  });

  it('what cannot be replaced is written through: --output /dev/null stays a device, a link stays a link to the new export', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    await makeImages(path.join(work, 'in'), 2, [32, 24]);
    expect((await cli(['run', path.join(work, 'in'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'])).code).toBe(0);
    const toDevice = await cli(['export', '--db', db, '--output', '/dev/null']);
    expect(toDevice.code, toDevice.stderr).toBe(0);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    writeFileSync(path.join(work, 'real.jsonl'), EARLIER);
    symlinkSync('real.jsonl', path.join(work, 'link.jsonl'));
    expect((await cli(['export', '--db', db, '--output', path.join(work, 'link.jsonl')])).code).toBe(0);
    expect(lstatSync(path.join(work, 'link.jsonl')).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(work, 'real.jsonl'), 'utf8').trimEnd().split('\n')).toHaveLength(2);
  });

  it('a name as long as the file system takes (250 bytes) is replaced whole, keeping its permissions, no temporary file left', async () => {
    const work = scratch();
    const db = path.join(work, 'n.db');
    await makeImages(path.join(work, 'in'), 2, [32, 24]);
    expect((await cli(['run', path.join(work, 'in'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'])).code).toBe(0);
    const output = path.join(work, `${'e'.repeat(244)}.jsonl`);
    writeFileSync(output, EARLIER);
    chmodSync(output, 0o640);
    const result = await cli(['export', '--db', db, '--output', output]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(output, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line).state)).toEqual(['done', 'done']);
    expect(statSync(output).mode & 0o777).toBe(0o640);
    expect(leftovers(work)).toEqual([]);
  });

  it.skipIf(!CAN_MOUNT)('a disk that fills mid-export: exit 2 with one line, the file still holds the earlier export (needs root and mount)', async () => {
    const work = scratch();
    const { db } = await bigLedger(work);
    const disk = path.join(work, 'disk');
    const unmount = tmpfs(disk, 'size=256k')!;
    try {
      const output = path.join(disk, 'results.jsonl');
      writeFileSync(output, EARLIER);
      const result = await cli(['export', '--db', db, '--output', output]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^imgpipe: error: --output: cannot write .*results\.jsonl \(ENOSPC: no space left on device/);
      expect(readFileSync(output, 'utf8')).toBe(EARLIER);
      expect(leftovers(disk)).toEqual([]);
    } finally {
      unmount();
    }
  });
});

// Every command's Ctrl-C or SIGTERM is exit 130 (the README's exit codes), never death by the
// signal (143), and what a command holds is given back: a merge's lock above all, which would
// refuse a merge retried on another host for 30 s.
describe('a command interrupted', () => {
  /** Whether process `pid` has `file` open: it got past its start-up, where its signal listeners are set. */
  const hasOpen = (pid: number, file: string): boolean => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  };
  async function meta(work: string, name: string, images: number): Promise<string> {
    const db = path.join(work, `${name}.db`);
    await makeImages(path.join(work, name), images, [32, 24]);
    const made = await cli(['run', path.join(work, name), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet']);
    expect(made.code, made.stderr).toBe(0);
    return db;
  }

  it('merge: rolled back, its lock released, exit 130 with one line; merged again at once', async () => {
    const work = scratch();
    const target = await meta(work, 'target', 2);
    const shard = await meta(work, 'shard', 2);
    const jobs = inflate(shard, 10_000);
    const before = query(target, 'SELECT i.key, j.state FROM images i JOIN jobs j ON j.image_id = i.id ORDER BY i.key');
    // Once, then twice (the second exits at once): the same outcome.
    for (const signals of [1, 2]) {
      const child = startCli(['merge', target, shard]);
      const finished = collect(child);
      // The lock is committed before the merge's own transaction: stop it once it has taken the lock.
      while (query(target, 'SELECT count(*) AS n FROM lock')[0]!.n === 0) await sleep(2);
      for (let i = 0; i < signals; i += 1) child.kill('SIGTERM');
      const stopped = await finished;
      expect({ signals, code: stopped.code, signal: stopped.signal }, stopped.stderr).toEqual({ signals, code: 130, signal: null });
      expect(stopped.stderr).toBe(`imgpipe: merge interrupted by SIGTERM: nothing was merged, ${target} is as it was\n`);
      expect(query(target, 'SELECT * FROM lock')).toEqual([]);
      expect(query(target, 'SELECT i.key, j.state FROM images i JOIN jobs j ON j.image_id = i.id ORDER BY i.key')).toEqual(before);
    }
    const again = await cli(['merge', target, shard]);
    expect(again.code, again.stderr).toBe(0);
    // The target's two images are the shard's first two (same keys, same pixels): the shard holds every key.
    expect(query(target, 'SELECT count(*) AS n FROM jobs')).toEqual([{ n: jobs }]);
  });

  /** Starts `args` on a ledger held busy, signals it once it has the ledger open, then lets it go. */
  async function signalWhileBusy(db: string, args: string[], signal: NodeJS.Signals): Promise<CliResult> {
    // A writer in exclusive mode keeps every other connection out (SQLite's busy wait, 5 s), so the command cannot end before its signal.
    const holder = new Database(db);
    holder.pragma('locking_mode = EXCLUSIVE');
    holder.exec('BEGIN EXCLUSIVE');
    const child = startCli(args);
    const finished = collect(child);
    try {
      for (let i = 0; i < 4000 && !hasOpen(child.pid!, db); i += 1) await sleep(1);
      child.kill(signal);
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    return finished;
  }

  it('status, duplicates, export and report: exit 130 on SIGTERM or SIGINT; export --output and report leave nothing that looks complete', async () => {
    const work = scratch();
    const db = await meta(work, 'in', 2);
    const cases: [string[], NodeJS.Signals][] = [
      [['status', '--db', db], 'SIGTERM'],
      [['status', '--db', db, '--json'], 'SIGINT'],
      [['duplicates', '--db', db], 'SIGTERM'],
      [['export', '--db', db], 'SIGTERM'],
    ];
    for (const [args, signal] of cases) {
      const stopped = await signalWhileBusy(db, args, signal);
      expect({ args, code: stopped.code, signal: stopped.signal }, stopped.stderr).toEqual({ args, code: 130, signal: null });
      expect(stopped.stderr).toBe(`imgpipe: interrupted by ${signal}\n`);
    }
    const output = path.join(work, 'export.csv');
    const exported = await signalWhileBusy(db, ['export', '--db', db, '--format', 'csv', '--output', output], 'SIGTERM');
    expect({ code: exported.code, stderr: exported.stderr }).toEqual({ code: 130, stderr: `imgpipe: interrupted by SIGTERM: --output ${output} left as it was\n` });
    expect(readdirSync(work).filter((name) => name.includes('export'))).toEqual([]);
    const report = path.join(work, 'report');
    const reported = await signalWhileBusy(db, ['report', '--db', db, '--html', report, '--out', path.join(work, 'out')], 'SIGTERM');
    expect({ code: reported.code, stderr: reported.stderr }).toEqual({ code: 130, stderr: `imgpipe: interrupted by SIGTERM: the report in ${report} is incomplete; run imgpipe report again\n` });
    // Its summary, which every page loads first, is written last: the pages say the folder is incomplete.
    expect(existsSync(path.join(report, 'data', 'summary.js'))).toBe(false);
  });
});

describe('paths', () => {
  it('keys from a manifest never lead outside --out', async () => {
    const work = scratch();
    const box = path.join(work, 'box');
    const out = path.join(box, 'out');
    mkdirSync(box);
    const red = path.join(FIXTURES, 'colours', 'red.png');
    const ids = ['../../escape', '/etc/absolute', '..', 'a/../../../up', 'C:\\windows\\drive', '..\\..\\back'];
    const manifest = path.join(work, 'list.jsonl');
    writeFileSync(manifest, ids.map((id) => JSON.stringify({ path: red, id })).join('\n'));
    const db = path.join(scratch(), 'l.db');
    const result = await cli(['run', manifest, '--tasks', 'preprocess', '--db', db, '--out', out, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    const outputs = query<{ result: string }>(db, 'SELECT result FROM jobs').map((r) => JSON.parse(r.result).output as string);
    expect(outputs.sort()).toEqual(['preprocess/_.jpg', 'preprocess/a/up.jpg', 'preprocess/back.jpg', 'preprocess/C_/windows/drive.jpg', 'preprocess/escape.jpg', 'preprocess/etc/absolute.jpg'].sort());
    expect(filesUnder(out)).toEqual(outputs.sort());
    // Nothing beside --out, nor beside its parent.
    expect(readdirSync(box)).toEqual(['out']);
    expect(readdirSync(work).sort()).toEqual(['box', 'list.jsonl']);
  });

  it('symlinks named in a manifest are refused unless --follow-symlinks', async () => {
    const work = scratch();
    const link = path.join(work, 'link.png');
    execFileSync('ln', ['-s', path.join(FIXTURES, 'colours', 'red.png'), link]);
    const manifest = path.join(work, 'list.txt');
    writeFileSync(manifest, 'link.png\n');
    const run = async (extra: string[]) => {
      const db = path.join(work, `${extra.length}.db`);
      await cli(['run', manifest, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet', ...extra]);
      return query<{ state: string; error_code: string | null }>(db, 'SELECT state, error_code FROM jobs');
    };
    expect(await run([])).toEqual([{ state: 'failed', error_code: 'E_READ' }]);
    expect(await run(['--follow-symlinks'])).toEqual([{ state: 'done', error_code: null }]);
  });
});

describe('ledgers that cannot be used', () => {
  const photos = path.join(FIXTURES, 'colours');

  async function goodLedger(dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true });
    const db = path.join(dir, 'l.db');
    const result = await cli(['run', photos, '--tasks', 'meta', '--db', db, '--out', path.join(dir, 'out'), '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    return db;
  }

  /** Every command that opens a ledger, on `db`. */
  function commands(db: string, work: string): string[][] {
    return [
      ['run', photos, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out2')],
      ['status', '--db', db],
      ['export', '--db', db],
      ['duplicates', '--db', db],
      ['merge', path.join(work, `merged-${Math.random().toString(36).slice(2)}.db`), db],
    ];
  }

  it('a corrupted ledger: exit 2 naming the damage, from every command, and the file left as it was', async () => {
    const work = scratch();
    const db = await goodLedger(work);
    const bytes = readFileSync(db);
    // Keep the header and schema page; scribble over everything after them.
    const random = prng(3);
    for (let i = 4096; i < bytes.length; i += 1) bytes[i] = Math.floor(random() * 256);
    writeFileSync(db, bytes);
    for (const args of commands(db, work)) expectUsageError(await cli(args), /corrupted \(database disk image is malformed\)/);
    expect(readFileSync(db).equals(bytes)).toBe(true);
  });

  it('damage found only mid-run (a page the run reads later) is also exit 2, not a crash', async () => {
    const work = scratch();
    const db = await goodLedger(work);
    const pages = query<{ name: string; rootpage: number }>(db, "SELECT name, rootpage FROM sqlite_master WHERE name = 'images'");
    const bytes = readFileSync(db);
    const page = (pages[0]!.rootpage - 1) * 4096;
    // Past the page header: the cells of the images table, which opening the ledger does not read.
    bytes.fill(0xa5, page + 8, page + 4096);
    writeFileSync(db, bytes);
    expectUsageError(await cli(commands(db, work)[0]!), /the ledger \(--db\) is corrupted/);
  });

  it('a ledger from a newer imgpipe: exit 2 from every command, untouched', async () => {
    const work = scratch();
    const db = await goodLedger(work);
    const connection = new Database(db);
    connection.pragma('user_version = 99');
    connection.close();
    const bytes = readFileSync(db);
    for (const args of commands(db, work)) expectUsageError(await cli(args), /schema version 99, newer than this imgpipe understands \(\d+\); upgrade imgpipe/);
    expect(readFileSync(db).equals(bytes)).toBe(true);
  });

  it.skipIf(ROOT_USER && !CAN_MOUNT)('a read-only ledger (file and folder): run, merge and status exit 2 saying so (as root: on a read-only mount, since root writes through chmod)', async () => {
    const work = scratch();
    let db = await goodLedger(path.join(work, 'rw'));
    // Another ledger to merge from: without root, the read-only ledger stays where it was made.
    const source = await goodLedger(path.join(work, 'source'));
    let restore = () => {};
    if (ROOT_USER) {
      const mount = path.join(work, 'ro');
      const unmount = tmpfs(mount, 'size=1m')!;
      copyFileSync(db, path.join(mount, 'l.db'));
      execFileSync('mount', ['-o', 'remount,ro', mount]);
      db = path.join(mount, 'l.db');
      restore = unmount;
    } else {
      chmodSync(db, 0o444);
      chmodSync(path.dirname(db), 0o555);
      restore = () => chmodSync(path.dirname(db), 0o755);
    }
    try {
      expectUsageError(await cli(['run', photos, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out2')]), /read-only/);
      expectUsageError(await cli(['merge', db, source]), /read-only/);
      expectUsageError(await cli(['status', '--db', db]), /read-only/);
    } finally {
      restore();
    }
  });

  it.skipIf(!ROOT_USER)('a shared ledger another user read: run and merge exit 2 naming the -wal and -shm that user left, their owner, and what to do (needs root, for two users)', async () => {
    const work = scratch();
    // A folder both users write, as a shared ledger's is; the owner has no name in /etc/passwd.
    chmodSync(work, 0o777);
    const owner = { uid: 12345, gid: 12345 };
    const reader = { uid: 65534, gid: 65534 };
    const db = path.join(work, 'l.db');
    const run = () => cli(['run', photos, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], owner);
    expect((await run()).code).toBe(0);
    // The reader's status leaves the two files behind, its own: a reader cannot remove them.
    expect((await cli(['status', '--db', db], reader)).code).toBe(0);
    for (const suffix of ['-wal', '-shm']) expect(statSync(`${db}${suffix}`).uid, suffix).toBe(reader.uid);
    const bytes = readFileSync(db);

    // Their mode is the reader's umask's; the name, where /etc/passwd has one.
    const named = /ledger .*l\.db cannot be used by this user \(uid 12345\): SQLite must write .*l\.db-wal \(owner (nobody, )?uid 65534; mode 0[0-7]{3}\) and .*l\.db-shm \(owner (nobody, )?uid 65534; mode 0[0-7]{3}\) beside it/;
    const remove = /when no imgpipe \(or other SQLite program\) has the ledger open, remove them/;
    const source = path.join(work, 'source.db');
    expect((await cli(['run', photos, '--tasks', 'meta', '--db', source, '--out', path.join(work, 'out'), '--quiet'], owner)).code).toBe(0);
    for (const result of [await run(), await cli(['merge', db, source], owner)]) {
      expectUsageError(result, named);
      expectUsageError(result, remove);
    }
    expect(readFileSync(db).equals(bytes)).toBe(true);
    // The advice works: with the reader's files gone, the owner's run goes on.
    for (const suffix of ['-wal', '-shm']) rmSync(`${db}${suffix}`);
    const resumed = await run();
    expect(resumed.code, resumed.stderr).toBe(0);

    // A -wal with changes in it (as a run of the other user's, killed, would leave it) holds what the
    // ledger does not: never advised away. Copied while a connection holds them, as a kill leaves them.
    const connection = new Database(db);
    connection.pragma('wal_autocheckpoint = 0');
    connection.prepare("UPDATE runs SET cwd = 'elsewhere'").run();
    const [ledger, wal, shm] = [readFileSync(db), readFileSync(`${db}-wal`), readFileSync(`${db}-shm`)];
    connection.close();
    writeFileSync(db, ledger);
    for (const [suffix, content] of [['-wal', wal], ['-shm', shm]] as const) {
      writeFileSync(`${db}${suffix}`, content);
      chownSync(`${db}${suffix}`, reader.uid, reader.gid);
    }
    expectUsageError(await run(), new RegExp(`l\\.db-wal is not empty \\(${wal.length} bytes\\) and may hold changes not yet in the ledger, so do not remove it: have their owner or root make them yours \\(chown\\)`));
    expect(readFileSync(db).equals(ledger)).toBe(true);

    // That advice works too: with the files the owner's, the run goes on, the changes in the -wal kept.
    for (const suffix of ['-wal', '-shm']) chownSync(`${db}${suffix}`, owner.uid, owner.gid);
    const again = await run();
    expect(again.code, again.stderr).toBe(0);
    expect(query(db, 'SELECT cwd FROM runs ORDER BY id LIMIT 1')).toEqual([{ cwd: 'elsewhere' }]);
  });
});
