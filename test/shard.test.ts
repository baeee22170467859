/** Sharding: a stable partition of keys, and sharded runs that merge into one unsharded result. */
import { copyFileSync, existsSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { inShard, parseShard, shardFromEnvironment, shardOf } from '../src/pipeline/shard.js';
import { resolveRunSettings } from '../src/commands/run-settings.js';
import { cli, FIXTURES, makeImages, query, resultsOf, scratch, summaryOf } from './helpers.js';

function shuffled<T>(items: T[], seed: number): T[] {
  const copy = [...items];
  let state = seed;
  for (let i = copy.length - 1; i > 0; i -= 1) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const j = state % (i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

describe('shard partition', () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `folder-${i % 17}/image-${i}.jpg`);

  it('is disjoint and covering, balanced, and independent of input order', () => {
    for (const count of [1, 2, 3, 8]) {
      const owners = keys.map((key) => [1, 2, 3, 4, 5, 6, 7, 8].slice(0, count).filter((index) => inShard(key, { index, count })));
      expect(owners.every((o) => o.length === 1)).toBe(true);
      const sizes = Array.from({ length: count }, (_, i) => owners.filter((o) => o[0] === i + 1).length);
      for (const size of sizes) expect(Math.abs(size - keys.length / count)).toBeLessThan(keys.length / count * 0.1);
      const order1 = keys.filter((key) => shardOf(key, count) === 1);
      const order2 = shuffled(keys, 7).filter((key) => shardOf(key, count) === 1).sort();
      expect(order2).toEqual([...order1].sort());
    }
  });

  it('parses I/N and takes the index from Kubernetes or AWS Batch', () => {
    expect(parseShard('3/8')).toEqual({ index: 3, count: 8 });
    for (const bad of ['0/8', '9/8', '3', 'a/b', '3/0']) expect(() => parseShard(bad)).toThrow(/--shard: expected I\/N/);
    expect(shardFromEnvironment('4', { JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 4 });
    expect(shardFromEnvironment('4', { AWS_BATCH_JOB_ARRAY_INDEX: '3' })).toEqual({ index: 4, count: 4 });
    expect(() => shardFromEnvironment('4', { AWS_BATCH_JOB_ARRAY_INDEX: '4' })).toThrow(/AWS_BATCH_JOB_ARRAY_INDEX/);
    expect(() => shardFromEnvironment('4', {})).toThrow(/JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX/);
    // Both set: they must agree, else which copy this is cannot be known (and a shard would be done twice).
    expect(shardFromEnvironment('4', { JOB_COMPLETION_INDEX: '2', AWS_BATCH_JOB_ARRAY_INDEX: '2' })).toEqual({ index: 3, count: 4 });
    expect(() => shardFromEnvironment('4', { JOB_COMPLETION_INDEX: '2', AWS_BATCH_JOB_ARRAY_INDEX: '0' })).toThrow(
      '--shard-count: JOB_COMPLETION_INDEX=2 and AWS_BATCH_JOB_ARRAY_INDEX=0 disagree about this copy\'s index; unset the one your scheduler did not set, or use --shard I/N',
    );
    expect(() => shardFromEnvironment('4', { JOB_COMPLETION_INDEX: '2', AWS_BATCH_JOB_ARRAY_INDEX: 'x' })).toThrow(/AWS_BATCH_JOB_ARRAY_INDEX: expected an integer/);
  });

  // One config file shared by every copy of a job, one machine's flag: flags win, as for any option.
  it('a --shard or --shard-count flag overrides the config file\'s shard or shardCount, either way round', () => {
    const work = scratch();
    const config = (content: object): string => {
      const file = path.join(work, `${Object.keys(content).join('-') || 'empty'}.json`);
      writeFileSync(file, JSON.stringify(content));
      return file;
    };
    const settle = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => resolveRunSettings([], flags, env).shard;
    expect(settle({ config: config({ shardCount: 4 }), shard: '2/3' })).toEqual({ index: 2, count: 3 });
    expect(settle({ config: config({ shard: '1/4' }), shardCount: '8' }, { AWS_BATCH_JOB_ARRAY_INDEX: '5' })).toEqual({ index: 6, count: 8 });
    expect(settle({ config: config({ shardCount: 4 }) }, { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 4, count: 4 });
    expect(() => settle({ config: config({ shard: '1/4', shardCount: 4 }) })).toThrow(/--config: shard and shardCount exclude each other/);
    expect(() => settle({ config: config({ shard: '5/4' }) })).toThrow(/--config shard: expected I\/N/);
    expect(() => settle({ shard: '1/2', shardCount: '3' })).toThrow(/--shard and --shard-count exclude each other/);
  });
});

describe('sharded runs', () => {
  it('three shards merged equal one unsharded run, and a disagreeing ledger is refused', async () => {
    const work = scratch();
    const input = path.join(work, 'photos');
    await makeImages(input, 60, [96, 64]);
    const whole = path.join(work, 'whole.db');
    expect((await cli(['run', input, '--tasks', 'preprocess,meta', '--db', whole, '--out', path.join(work, 'out-whole'), '--quiet'])).code).toBe(0);

    const shards: string[] = [];
    let covered = 0;
    for (let index = 0; index < 3; index += 1) {
      const db = path.join(work, `shard-${index}.db`);
      // The index the way a Kubernetes Indexed Job gives it (0-based).
      const result = await cli(['run', input, '--tasks', 'preprocess,meta', '--shard-count', '3', '--db', db, '--out', path.join(work, 'out'), '--json'], {
        env: { JOB_COMPLETION_INDEX: String(index) },
      });
      expect(result.code, result.stderr).toBe(0);
      const summary = summaryOf(result.stdout);
      expect(summary.shard).toBe(`${index + 1}/3`);
      covered += summary.images.inShard;
      shards.push(db);
    }
    expect(covered).toBe(60);

    const merged = path.join(work, 'merged.db');
    const merge = await cli(['merge', merged, ...shards]);
    expect(merge.code, merge.stderr).toBe(0);
    expect(merge.stdout).toMatch(/120 jobs merged from 3 ledgers/);
    expect(resultsOf(merged)).toEqual(resultsOf(whole));
    const status = JSON.parse((await cli(['status', '--db', merged, '--json'])).stdout);
    expect(status.tasks).toEqual([
      { task: 'meta', pending: 0, running: 0, done: 60, failed: 0 },
      { task: 'preprocess', pending: 0, running: 0, done: 60, failed: 0 },
    ]);

    // Merging the same shards again changes nothing: not the results, and no run is recorded twice.
    const runs = query(merged, 'SELECT * FROM runs ORDER BY id');
    expect(runs).toHaveLength(3);
    expect((await cli(['merge', merged, ...shards])).code).toBe(0);
    expect(resultsOf(merged)).toEqual(resultsOf(whole));
    expect(query(merged, 'SELECT * FROM runs ORDER BY id')).toEqual(runs);

    // The last run is the one that started last, whatever order the shards were merged in.
    const reversed = path.join(work, 'reversed.db');
    expect((await cli(['merge', reversed, ...[...shards].reverse()])).code).toBe(0);
    for (const db of [merged, reversed]) {
      const { lastRun } = JSON.parse((await cli(['status', '--db', db, '--json'])).stdout);
      expect([lastRun.shard, lastRun.status]).toEqual(['3/3', 'completed']);
    }

    // A ledger whose done result differs for the same (image, task, version) is refused, all or nothing.
    const tampered = path.join(work, 'tampered.db');
    copyFileSync(shards[0]!, tampered);
    const Database = (await import('better-sqlite3')).default;
    const connection = new Database(tampered);
    connection.prepare("UPDATE jobs SET result = '{\"format\":\"forged\"}' WHERE task = 'meta' AND image_id = (SELECT min(image_id) FROM jobs)").run();
    connection.close();
    const target = path.join(work, 'target.db');
    const refused = await cli(['merge', target, shards[1]!, shards[0]!, tampered]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/merge refused: .*tampered\.db .* disagree about image .* task meta version 1 \(different results\); nothing was merged/);
    // The target was new: a refused merge leaves no file behind.
    expect(existsSync(target)).toBe(false);
    // An existing target is left as it was.
    expect((await cli(['merge', target, shards[1]!])).code).toBe(0);
    const before = query(target, 'SELECT count(*) AS n FROM jobs');
    expect((await cli(['merge', target, shards[0]!, tampered])).code).toBe(2);
    expect(query(target, 'SELECT count(*) AS n FROM jobs')).toEqual(before);
  });

  it('a run merged while unfinished is recorded once, and gets its end when merged again', async () => {
    const work = scratch();
    const shard = path.join(work, 'shard.db');
    expect((await cli(['run', path.join(FIXTURES, 'colours'), '--tasks', 'meta', '--db', shard, '--quiet'])).code).toBe(0);
    const finished = query(shard, 'SELECT ended_at, status, duration_ms, counts FROM runs')[0]!;
    // As the shard's ledger looks while its run is still going.
    const connection = new Database(shard);
    connection.prepare("UPDATE runs SET ended_at = NULL, status = 'running', duration_ms = NULL, counts = NULL").run();
    connection.close();
    const merged = path.join(work, 'merged.db');
    expect((await cli(['merge', merged, shard])).code).toBe(0);
    expect(query(merged, 'SELECT status, ended_at FROM runs')).toEqual([{ status: 'unfinished', ended_at: null }]);

    const restored = new Database(shard);
    restored.prepare('UPDATE runs SET ended_at = ?, status = ?, duration_ms = ?, counts = ?').run(finished.ended_at, finished.status, finished.duration_ms, finished.counts);
    restored.close();
    expect((await cli(['merge', merged, shard])).code).toBe(0);
    expect(query(merged, 'SELECT ended_at, status, duration_ms, counts FROM runs')).toEqual([finished]);
    expect(query(merged, 'SELECT DISTINCT run_id FROM jobs')).toEqual(query(merged, 'SELECT id AS run_id FROM runs'));
  });

  it('carries suspects (jobs running when a process died) across, each once with its most deaths; a job done in any ledger is none', async () => {
    const work = scratch();
    const input = path.join(work, 'photos');
    await makeImages(input, 5, [32, 24]);
    const a = path.join(work, 'a.db');
    expect((await cli(['run', input, '--tasks', 'meta', '--db', a, '--quiet'])).code).toBe(0);
    const b = path.join(work, 'b.db');
    copyFileSync(a, b);
    const key = (i: number): string => `batch-00/img-000${i}.jpg`;
    // As ledgers look after processes died on these jobs (Ledger.recoverOrphans), or while they ran.
    const edit = (db: string, jobs: [number, string, number | null][]): void => {
      const connection = new Database(db);
      for (const [i, state, deaths] of jobs) {
        const { id } = connection.prepare('SELECT id FROM images WHERE key = ?').get(key(i)) as { id: number };
        const failed = state === 'failed' ? 'E_PROCESS_DIED' : null;
        connection.prepare("UPDATE jobs SET state = ?, error_code = ?, result = NULL WHERE image_id = ? AND task = 'meta'").run(state, failed, id);
        if (deaths !== null) connection.prepare("INSERT INTO suspects (image_id, task, deaths) VALUES (?, 'meta', ?)").run(id, deaths);
      }
      connection.close();
    };
    // 0: a suspect in both, counted differently. 1: left running in a, done in b. 2: left running
    // in a, pending in b. 3: a suspect in a, done in b. 4: failed E_PROCESS_DIED (still a suspect) in a.
    edit(a, [[0, 'pending', 2], [1, 'running', null], [2, 'running', null], [3, 'pending', 1], [4, 'failed', 0]]);
    edit(b, [[0, 'pending', 1], [2, 'pending', null], [4, 'pending', null]]);
    const suspects = (db: string) => query(db, 'SELECT i.key, s.task, s.deaths FROM suspects s JOIN images i ON i.id = s.image_id ORDER BY i.key');
    const expected = [
      { key: key(0), task: 'meta', deaths: 2 },
      { key: key(2), task: 'meta', deaths: 0 },
      { key: key(4), task: 'meta', deaths: 0 },
    ];

    // Done in a source merged after, or in the target already: either way no suspect.
    const together = path.join(work, 'together.db');
    expect((await cli(['merge', together, a, b])).code).toBe(0);
    expect(suspects(together)).toEqual(expected);
    const stepwise = path.join(work, 'stepwise.db');
    expect((await cli(['merge', stepwise, b])).code).toBe(0);
    expect((await cli(['merge', stepwise, a])).code).toBe(0);
    expect(suspects(stepwise)).toEqual(expected);
    // Merging again counts no death twice.
    expect((await cli(['merge', together, b, a])).code).toBe(0);
    expect(suspects(together)).toEqual(expected);
    expect(query(together, "SELECT i.key, j.state FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state <> 'done' ORDER BY i.key")).toEqual([
      { key: key(0), state: 'pending' },
      { key: key(2), state: 'pending' },
      { key: key(4), state: 'failed' },
    ]);

    // A resume of the merged ledger runs the two pending suspects (alone: test/resume.test.ts) and clears them once done;
    // the failed one stays a suspect, so that --retry-failed runs it alone.
    const resumed = await cli(['run', input, '--tasks', 'meta', '--db', together, '--json']);
    expect(resumed.code, resumed.stderr).toBe(1);
    expect(summaryOf(resumed.stdout).jobs).toMatchObject({ done: 2, alreadyDone: 2, alreadyFailed: 1 });
    expect(suspects(together)).toEqual([{ key: key(4), task: 'meta', deaths: 0 }]);
  });

  it('checks every source before creating the target, and refuses one ledger named twice', async () => {
    const work = scratch();
    const shard = path.join(work, 'shard.db');
    expect((await cli(['run', path.join(FIXTURES, 'colours'), '--tasks', 'meta', '--db', shard, '--quiet'])).code).toBe(0);
    const target = path.join(work, 'sub', 'new.db');

    const missing = await cli(['merge', target, shard, path.join(work, 'missing.db')]);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/^imgpipe: error: no ledger at .*missing\.db[^\n]*\n$/)]);
    const text = path.join(work, 'notes.db');
    writeFileSync(text, 'not a ledger, and long enough to have what would be a SQLite header...........................');
    const notLedger = await cli(['merge', target, shard, text]);
    // merge takes ledgers as arguments: its advice does not mention --db.
    expect([notLedger.code, notLedger.stderr]).toEqual([2, expect.stringMatching(/notes\.db is not an imgpipe ledger .*; name another ledger file\n$/)]);
    expect(existsSync(path.join(work, 'sub'))).toBe(false);

    // The target under another name (a symlink, a hard link), and a source under two names.
    const alias = path.join(work, 'alias.db');
    symlinkSync(shard, alias);
    const hardLink = path.join(work, 'hard.db');
    linkSync(shard, hardLink);
    const before = readFileSync(shard);
    for (const other of [alias, hardLink]) {
      const itself = await cli(['merge', shard, other]);
      expect([itself.code, itself.stderr]).toEqual([2, expect.stringMatching(/^imgpipe: error: merge: .* is the target .*shard\.db itself \(the same file\)[^\n]*\n$/)]);
    }
    expect(readFileSync(shard).equals(before)).toBe(true);
    expect(query(shard, 'SELECT count(*) AS n FROM runs')).toEqual([{ n: 1 }]);
    const twice = await cli(['merge', target, shard, alias]);
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringMatching(/merge: .*alias\.db and .*shard\.db are the same ledger \(the same file\); name each source once/)]);
    expect(existsSync(path.join(work, 'sub'))).toBe(false);
  });

  // An Indexed Job whose command forgot --shard-count: every pod would do all the work, silently.
  it('a copy of an array job (JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX set) given no shard says it processes every image', async () => {
    const work = scratch();
    const input = path.join(work, 'photos');
    await makeImages(input, 2, [32, 24]);
    for (const variable of ['JOB_COMPLETION_INDEX', 'AWS_BATCH_JOB_ARRAY_INDEX']) {
      const run = (extra: string[]) =>
        cli(['run', input, '--tasks', 'meta', '--db', path.join(work, `${variable}-${extra.length}.db`), '--out', path.join(work, 'out'), '--json', ...extra], { env: { [variable]: '1' } });
      const unsharded = await run([]);
      expect(unsharded.code, unsharded.stderr).toBe(0);
      const warnings = unsharded.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((event) => event.event === 'warning');
      expect(warnings.map((event) => event.message)).toEqual([expect.stringMatching(new RegExp(`^${variable} is set \\(1\\) but neither --shard nor --shard-count is given: this copy processes every image`))]);
      const sharded = await run(['--shard-count', '2']);
      expect(sharded.stdout).not.toContain('"event":"warning"');
    }
  });

  it('--shard-count with JOB_COMPLETION_INDEX and AWS_BATCH_JOB_ARRAY_INDEX set to different indexes: exit 2 naming both, no ledger', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    const result = await cli(['run', path.join(FIXTURES, 'colours'), '--shard-count', '4', '--db', db], { env: { JOB_COMPLETION_INDEX: '1', AWS_BATCH_JOB_ARRAY_INDEX: '3' } });
    expect([result.code, result.stderr]).toEqual([2, 'imgpipe: error: --shard-count: JOB_COMPLETION_INDEX=1 and AWS_BATCH_JOB_ARRAY_INDEX=3 disagree about this copy\'s index; unset the one your scheduler did not set, or use --shard I/N\n']);
    expect(existsSync(db)).toBe(false);
  });

  it('records the shard of each run in the ledger', async () => {
    const work = scratch();
    writeFileSync(path.join(work, 'list.txt'), '');
    const db = path.join(work, 'l.db');
    await cli(['run', path.join(work, 'list.txt'), '--shard', '2/4', '--db', db, '--quiet']);
    expect(query(db, 'SELECT shard, status FROM runs')).toEqual([{ shard: '2/4', status: 'completed' }]);
  });
});
