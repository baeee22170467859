/**
 * Interruptions: kill -9 at random moments and Ctrl-C lose nothing and redo nothing that was done.
 *
 * The kill -9 loop runs IMGPIPE_CHAOS_KILLS kills (5 in `npm test`, 20 in `npm run test:chaos`)
 * at moments drawn from IMGPIPE_CHAOS_SEED (printed, so that a failure can be replayed).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { prng } from '../fixtures/make-fixtures.js';
import { cli, collect, doneCount, events, makeImages, query, resultsOf, ROOT, scratch, sleep, startCli, summaryOf } from './helpers.js';

const KILLS = Number(process.env.IMGPIPE_CHAOS_KILLS ?? 5);
const SEED = Number(process.env.IMGPIPE_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
// Enough work that every kill lands in a run with jobs left.
const IMAGES = 40 + 4 * KILLS;
const TASKS = 'preprocess,meta';


async function waitForDone(db: string, atLeast: number, exited?: () => boolean): Promise<void> {
  for (let i = 0; i < 2400; i += 1) {
    if (doneCount(db) >= atLeast || exited?.()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`never reached ${atLeast} done jobs`);
}


function integrity(db: string): string {
  const connection = new Database(db, { readonly: true });
  try {
    return connection.pragma('integrity_check', { simple: true }) as string;
  } finally {
    connection.close();
  }
}

/** Files under a folder, relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('interrupted runs', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const reference = path.join(work, 'reference.db');
  const referenceOut = path.join(work, 'ref-out');

  beforeAll(async () => {
    await makeImages(input, IMAGES);
    const result = await cli(['run', input, '--tasks', TASKS, '--db', reference, '--out', referenceOut, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
  });

  it(`after kill -9 at ${KILLS} random moments, resuming each time, every job is done exactly once`, async () => {
    const random = prng(SEED);
    const seed = `IMGPIPE_CHAOS_SEED=${SEED}`;
    const db = path.join(work, 'killed.db');
    const out = path.join(work, 'out');
    const args = ['run', input, '--tasks', TASKS, '--db', db, '--out', out, '--json'];
    const total = IMAGES * 2;
    const doneJobs = (): Set<string> =>
      new Set(query<{ id: string }>(db, "SELECT i.key || '|' || j.task AS id FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'done'").map((r) => r.id));
    const moments: string[] = [];
    for (let kill = 0; kill < KILLS; kill += 1) {
      const before = doneCount(db) > 0 ? doneJobs() : new Set<string>();
      const child = startCli(args);
      let exited = false;
      const finished = collect(child).finally(() => (exited = true));
      const left = total - before.size;
      // Early in the loop a quarter of the kills come in the first 400 ms: loading, creating or
      // opening the ledger, taking the lock, resetting orphans, scanning. Later, with less work
      // left, a fast machine could finish it in that time, so the rest are progress-based.
      if (left >= total / 2 && random() < 0.25) {
        const ms = Math.floor(random() * 400);
        moments.push(`${ms} ms`);
        await sleep(ms);
      } else {
        // Mid-work, after a random share of what is left, small enough to leave work for the kills to come.
        const target = before.size + 1 + Math.floor(random() * (left / (2 * (KILLS - kill + 1))));
        moments.push(`${target} done`);
        await waitForDone(db, target, () => exited);
        await sleep(Math.floor(random() * 10));
      }
      child.kill('SIGKILL');
      const killed = await finished;
      expect(killed.signal, `${seed}: the run ended before kill ${kill + 1} (${moments.at(-1)})`).toBe('SIGKILL');
      // The killed run never redid a job that an earlier run had finished.
      const redone = events(killed.stdout).filter((e) => e.event === 'job' && e.state === 'done' && before.has(`${e.key}|${e.task}`));
      expect(redone, seed).toEqual([]);
      if (doneCount(db) > 0) {
        expect(integrity(db), seed).toBe('ok');
        // attempts counts finished tries: a job killed in flight has none.
        expect(query<{ n: number }>(db, 'SELECT max(attempts) AS n FROM jobs')[0]!.n, seed).toBeLessThanOrEqual(1);
      }
    }
    const doneBefore = doneCount(db);
    expect(doneBefore, seed).toBeLessThan(total);
    const resumed = await cli(args);
    expect(resumed.code, `${seed}: ${resumed.stderr}`).toBe(0);
    const summary = summaryOf(resumed.stdout);
    expect(summary.jobs.alreadyDone, seed).toBe(doneBefore);
    expect(summary.jobs.done, seed).toBe(total - doneBefore);
    // attempts counts finished tries: exactly one per job, however many times the run was killed.
    expect(query(db, 'SELECT attempts, count(*) AS n FROM jobs GROUP BY attempts'), seed).toEqual([{ attempts: 1, n: total }]);
    // The jobs each kill left running ran alone since, and no longer suspected once done.
    expect(query(db, 'SELECT * FROM suspects'), seed).toEqual([]);
    expect(integrity(db), seed).toBe('ok');
    expect(resultsOf(db), seed).toEqual(resultsOf(reference));
    // Every artefact is whole under its final name; a kill mid-write can leave only a temporary file.
    const expected = filesUnder(referenceOut);
    const written = filesUnder(out);
    expect(written.filter((f) => !/(^|\/)\.imgpipe-\d+-\d+-[0-9a-f]{12}\.tmp$/.test(f)), seed).toEqual(expected);
    for (const file of expected) expect(readFileSync(path.join(out, file)).equals(readFileSync(path.join(referenceOut, file))), `${seed}: ${file}`).toBe(true);
  });

  it('SIGINT stops cleanly with exit 130, leaves no job running, and the next run finishes the rest', async () => {
    const db = path.join(work, 'interrupted.db');
    const args = ['run', input, '--tasks', TASKS, '--db', db, '--out', path.join(work, 'out-int'), '--json'];
    const child = startCli(args);
    const finished = collect(child);
    await waitForDone(db, Math.floor(IMAGES / 2));
    child.kill('SIGINT');
    const stopped = await finished;
    expect(stopped.code).toBe(130);
    expect(summaryOf(stopped.stdout).status).toBe('interrupted');
    const states = query<{ state: string }>(db, "SELECT DISTINCT state FROM jobs WHERE state NOT IN ('done', 'pending')");
    expect(states).toEqual([]);
    expect(query<{ status: string }>(db, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }]);
    const resumed = await cli(args);
    expect(resumed.code).toBe(0);
    expect(resultsOf(db)).toEqual(resultsOf(reference));
  });

  // Kubernetes sends SIGTERM whenever it evicts or scales down, often while a pod is just starting.
  it('SIGTERM while the run is still starting (its ledger just created) stops it in order: exit 130, run interrupted, lock released', async () => {
    const db = path.join(work, 'starting.db');
    const args = ['run', input, '--tasks', TASKS, '--db', db, '--out', path.join(work, 'out-starting'), '--json'];
    const child = startCli(args);
    const finished = collect(child);
    for (let i = 0; i < 5000 && !existsSync(db); i += 1) await sleep(1);
    child.kill('SIGTERM');
    const stopped = await finished;
    expect({ code: stopped.code, signal: stopped.signal }, stopped.stderr).toEqual({ code: 130, signal: null });
    expect(summaryOf(stopped.stdout).status).toBe('interrupted');
    expect(query<{ status: string }>(db, 'SELECT status FROM runs')).toEqual([{ status: 'interrupted' }]);
    expect(query(db, 'SELECT * FROM lock')).toEqual([]);
    const resumed = await cli(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resultsOf(db)).toEqual(resultsOf(reference));
    expect(query(db, 'SELECT DISTINCT attempts FROM jobs')).toEqual([{ attempts: 1 }]);
  });
});

/**
 * A job that takes the whole process down (a native crash in a decoder, the OOM killer, abort()):
 * no worker error to catch, only a dead process. No built-in task does that on purpose, so a
 * driver runs the engine as `imgpipe run` does (take the lock, recover what a dead run left
 * running, schedule) with a task written for the test, in a child process that can die.
 */
describe('a job that kills the whole process', () => {
  const MAX_ATTEMPTS = 2;

  /**
   * The task logs `start`/`end` lines (pid, key) to a file, synchronously so that a kill loses none;
   * on a key holding "poison" it SIGKILLs its own process, as a native crash would end it.
   */
  function setUp(images: number, jobMs: number): { work: string; input: string; db: string; log: string; driver: string } {
    const work = scratch();
    const log = path.join(work, 'jobs.log');
    const task = path.join(work, 'work.mjs');
    writeFileSync(
      task,
      `import { appendFileSync } from 'node:fs';
export function createHandler() {
  return async (job) => {
    appendFileSync(${JSON.stringify(log)}, 'start ' + process.pid + ' ' + job.key + '\\n');
    if (job.key.includes('poison')) process.kill(process.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, ${jobMs}));
    appendFileSync(${JSON.stringify(log)}, 'end ' + process.pid + ' ' + job.key + '\\n');
    return { result: { bytes: job.bytes.length, sha: job.sha256.slice(0, 12) } };
  };
}
`,
    );
    const driver = path.join(work, 'driver.mjs');
    const dist = (file: string): string => JSON.stringify(path.join(ROOT, 'dist/pipeline', file));
    writeFileSync(
      driver,
      `import { Ledger } from ${dist('ledger.js')};
import { Scheduler } from ${dist('scheduler.js')};
import { classifyInputs, scanInputs } from ${dist('sources.js')};
const [db, input, out] = process.argv.slice(2);
const ledger = Ledger.openForWrite(db);
ledger.acquireLock();
const runId = ledger.startRun({ argv: [], cwd: process.cwd(), tasks: ['work'], shard: null, version: 'test' });
const orphans = ledger.recoverOrphans(${MAX_ATTEMPTS});
const task = {
  meta: { name: 'work', version: 1, description: 'work', needs: [], concurrency: 3, threadsPerJob: 1, timeoutSeconds: 30, options: {}, worker: new URL(${JSON.stringify(`file://${task}`)}) },
  options: {}, optionsHash: 'none', concurrency: 3, threadsPerJob: 1, timeoutMs: 30_000,
};
const scheduler = new Scheduler(
  ledger,
  { runId, tasks: [task], threads: 3, maxAttempts: ${MAX_ATTEMPTS}, retryFailed: process.argv.includes('--retry-failed'), force: false, outDir: out, shard: undefined, graceMs: 1000, maxPixels: 1e8, recordEachStart: ledger.previousRunDied },
  { scanned() {}, planned() {}, skipped() {}, warning() {}, job() {} },
);
const result = await scheduler.run(scanInputs(classifyInputs([input], process.cwd()), { followSymlinks: false, stdin: process.stdin, onProblem() {} }));
ledger.finishRun(runId, 'completed', 0, null);
ledger.close();
console.log(JSON.stringify({ orphans, recordEachStart: ledger.previousRunDied, counts: result.tasks.work }));
`,
    );
    return { work, input: path.join(work, 'in'), db: path.join(work, 'l.db'), log, driver };
  }

  function drive(driver: string, args: string[]): { child: ReturnType<typeof spawn>; finished: ReturnType<typeof collect> } {
    const child = spawn(process.execPath, [driver, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    return { child, finished: collect(child) };
  }

  /** The log as runs (by pid, in order), each a list of [start|end, key]. */
  function runsIn(log: string): [string, string][][] {
    const runs = new Map<string, [string, string][]>();
    for (const line of readFileSync(log, 'utf8').trimEnd().split('\n')) {
      const [what, pid, ...key] = line.split(' ');
      if (!runs.has(pid!)) runs.set(pid!, []);
      runs.get(pid!)!.push([what!, key.join(' ')]);
    }
    return [...runs.values()];
  }

  /** Keys of the jobs that had started but not ended when `key` started. */
  function besides(run: [string, string][], key: string): string[] {
    const open = new Set<string>();
    for (const [what, k] of run) {
      if (what === 'start' && k === key) return [...open];
      if (what === 'start') open.add(k);
      else open.delete(k);
    }
    throw new Error(`${key} did not start in this run`);
  }

  it(`fails E_PROCESS_DIED after it ran alone --max-attempts (${MAX_ATTEMPTS}) times as the process died; the others are done once, and the run completes`, async () => {
    const { input, db, log, driver, work } = setUp(12, 30);
    const files = await makeImages(input, 12);
    const poisonFile = files[5]!.replace(/\.jpg$/, '-poison.jpg');
    renameSync(files[5]!, poisonFile);
    const poison = path.relative(input, poisonFile);
    const args = [db, input, path.join(work, 'out')];

    let killed = 0;
    let last;
    for (let run = 0; run < MAX_ATTEMPTS + 4; run += 1) {
      last = await drive(driver, args).finished;
      if (last.signal !== 'SIGKILL') break;
      killed += 1;
    }
    expect(last!.code, last!.stderr).toBe(0);
    // N deaths while it ran alone, after at most two among other jobs: the first may come before its
    // start was written (a run that follows no death writes starts in batches), the next makes it a suspect.
    expect(killed).toBeGreaterThanOrEqual(MAX_ATTEMPTS);
    expect(killed).toBeLessThanOrEqual(MAX_ATTEMPTS + 2);
    const runs = runsIn(log);
    expect(runs).toHaveLength(killed + 1);
    for (const run of runs.slice(killed - MAX_ATTEMPTS, killed)) expect(besides(run, poison)).toEqual([]);
    // The completing run did not start it again: it found it failed.
    expect(runs.at(-1)!.some(([, key]) => key === poison)).toBe(false);
    expect(JSON.parse(last!.stdout)).toMatchObject({ orphans: { failed: 1 }, recordEachStart: true, counts: { alreadyFailed: 1, failed: 0 } });

    const jobs = query<{ key: string; state: string; attempts: number; error_code: string | null; error_message: string | null; result: string | null }>(
      db,
      'SELECT i.key, j.state, j.attempts, j.error_code, j.error_message, j.result FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key',
    );
    expect(jobs.find((job) => job.key === poison)).toMatchObject({
      state: 'failed',
      attempts: 0,
      error_code: 'E_PROCESS_DIED',
      error_message: expect.stringMatching(/^the whole process died 2 times while this job ran alone \(.*OOM killer.*\); --retry-failed tries it again$/),
    });
    const others = jobs.filter((job) => job.key !== poison);
    expect(others).toHaveLength(11);
    for (const job of others) {
      expect(job, job.key).toMatchObject({ state: 'done', attempts: 1, error_code: null });
      expect(JSON.parse(job.result!).bytes, job.key).toBe(readFileSync(path.join(input, job.key)).length);
    }
    // Still a suspect, its count afresh, so that --retry-failed tries it alone: dies alone again, and
    // after N such deaths in all, is failed again (not N + 2: it is suspected from the start).
    expect(query(db, 'SELECT deaths FROM suspects')).toEqual([{ deaths: 0 }]);
    let retried = await drive(driver, [...args, '--retry-failed']).finished;
    let deaths = 0;
    while (retried.signal === 'SIGKILL' && deaths < MAX_ATTEMPTS + 2) {
      deaths += 1;
      expect(besides(runsIn(log).at(-1)!, poison)).toEqual([]);
      retried = await drive(driver, args).finished;
    }
    expect(deaths).toBe(MAX_ATTEMPTS);
    expect(retried.code, retried.stderr).toBe(0);
    expect(query(db, "SELECT error_code, count(*) AS n FROM jobs WHERE state <> 'done' GROUP BY 1")).toEqual([{ error_code: 'E_PROCESS_DIED', n: 1 }]);
  });

  it('a kill -9 of a healthy run: the jobs it left running run alone first on resume, then the rest; each done once, attempts 1, none failed', async () => {
    const { input, db, log, driver, work } = setUp(10, 300);
    await makeImages(input, 10);
    const args = [db, input, path.join(work, 'out')];
    const { child, finished } = drive(driver, args);
    // Three jobs in flight (the pool's size), their starts written (batched, within 100 ms).
    for (let i = 0; i < 1000 && !(existsSync(log) && runsIn(log)[0]!.filter(([what]) => what === 'start').length >= 3); i += 1) await sleep(5);
    await sleep(150);
    child.kill('SIGKILL');
    expect((await finished).signal).toBe('SIGKILL');
    const inFlight = query<{ key: string }>(db, "SELECT i.key FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'running'").map((row) => row.key);
    expect(inFlight.length).toBeGreaterThan(0);

    const resumed = await drive(driver, args).finished;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ orphans: { suspects: inFlight.length, failed: 0 }, recordEachStart: true, counts: { failed: 0, retries: 0 } });
    const run = runsIn(log).at(-1)!;
    // The suspects start first, each alone: nothing beside it, and only suspects before it.
    const starts = run.filter(([what]) => what === 'start').map(([, key]) => key);
    expect(new Set(starts.slice(0, inFlight.length))).toEqual(new Set(inFlight));
    for (const key of inFlight) expect(besides(run, key), key).toEqual([]);
    expect(query(db, "SELECT state, attempts, count(*) AS n FROM jobs GROUP BY state, attempts")).toEqual([{ state: 'done', attempts: 1, n: 10 }]);
    expect(query(db, 'SELECT * FROM suspects')).toEqual([]);
  });
});
