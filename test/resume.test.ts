/**
 * Interruptions: kill -9 at random moments and Ctrl-C lose nothing and redo nothing that was done.
 *
 * The kill -9 loop runs IMGPIPE_CHAOS_KILLS kills (5 in `npm test`, 20 in `npm run test:chaos`)
 * at moments drawn from IMGPIPE_CHAOS_SEED (printed, so that a failure can be replayed).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { prng } from '../fixtures/make-fixtures.js';
import { cli, collect, doneCount, events, makeImages, query, resultsOf, scratch, sleep, startCli, summaryOf } from './helpers.js';

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
