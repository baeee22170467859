/** Interruptions: kill -9 and Ctrl-C at arbitrary moments lose nothing and redo nothing that was done. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { cli, collect, events, makeImages, query, resultsOf, scratch, startCli, summaryOf } from './helpers.js';

const IMAGES = 240;
const TASKS = 'preprocess,meta';

function doneCount(db: string): number {
  try {
    return query<{ n: number }>(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")[0]!.n;
  } catch {
    return 0;
  }
}

async function waitForDone(db: string, atLeast: number): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (doneCount(db) >= atLeast) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never reached ${atLeast} done jobs`);
}

describe('interrupted runs', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const reference = path.join(work, 'reference.db');

  beforeAll(async () => {
    await makeImages(input, IMAGES);
    const result = await cli(['run', input, '--tasks', TASKS, '--db', reference, '--out', path.join(work, 'ref-out'), '--quiet']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('after kill -9 at several moments, resuming completes exactly the missing jobs, each once', async () => {
    const db = path.join(work, 'killed.db');
    const args = ['run', input, '--tasks', TASKS, '--db', db, '--out', path.join(work, 'out'), '--json'];
    const total = IMAGES * 2;
    const doneJobs = (): Set<string> =>
      new Set(query<{ id: string }>(db, "SELECT i.key || '|' || j.task AS id FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'done'").map((r) => r.id));
    for (const fraction of [0.1, 0.35, 0.6]) {
      const before = existsSync(db) ? doneJobs() : new Set<string>();
      const child = startCli(args);
      const finished = collect(child);
      await waitForDone(db, Math.floor(total * fraction));
      child.kill('SIGKILL');
      const killed = await finished;
      expect(killed.signal).toBe('SIGKILL');
      // The killed run never redid a job that an earlier run had finished.
      const redone = events(killed.stdout).filter((e) => e.event === 'job' && e.state === 'done' && before.has(`${e.key}|${e.task}`));
      expect(redone).toEqual([]);
    }
    const doneBefore = doneCount(db);
    expect(doneBefore).toBeLessThan(total);
    const resumed = await cli(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = summaryOf(resumed.stdout);
    expect(summary.jobs.alreadyDone).toBe(doneBefore);
    expect(summary.jobs.done).toBe(total - doneBefore);
    // attempts counts finished tries: exactly one per job, however many times the run was killed.
    expect(query(db, 'SELECT attempts, count(*) AS n FROM jobs GROUP BY attempts')).toEqual([{ attempts: 1, n: total }]);
    const connection = new Database(db, { readonly: true });
    expect(connection.pragma('integrity_check', { simple: true })).toBe('ok');
    connection.close();
    expect(resultsOf(db)).toEqual(resultsOf(reference));
  });

  it('SIGINT stops cleanly with exit 130, leaves no job running, and the next run finishes the rest', async () => {
    const db = path.join(work, 'interrupted.db');
    const args = ['run', input, '--tasks', TASKS, '--db', db, '--out', path.join(work, 'out-int'), '--json'];
    const child = startCli(args);
    const finished = collect(child);
    await waitForDone(db, 40);
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
});
