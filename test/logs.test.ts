/** `--log-format json`: structured logs of real runs, on stderr or in --log-file, beside `--json` on stdout. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, events, FIXTURES, query, scratch, summaryOf } from './helpers.js';

const INPUTS = [path.join(FIXTURES, 'broken'), path.join(FIXTURES, 'colours')];

function parseLines(text: string): Record<string, any>[] {
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  return lines.map((line) => JSON.parse(line) as Record<string, any>);
}

/** This run's jobs in the ledger: `key|task` -> error code (null when done). */
function ledgerJobs(db: string): Map<string, string | null> {
  const rows = query<{ key: string; task: string; error_code: string | null }>(
    db,
    'SELECT i.key, j.task, j.error_code FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.run_id = (SELECT max(id) FROM runs)',
  );
  return new Map(rows.map((row) => [`${row.key}|${row.task}`, row.error_code]));
}

describe('--log-format json', () => {
  it('writes one object per line on stderr, with the fields, the failure codes and the keys of the ledger; --json on stdout is intact', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const result = await cli(['run', ...INPUTS, '--tasks', 'preprocess,meta', '--db', db, '--out', path.join(work, 'out'), '--log-format', 'json', '--json']);
    expect(result.code).toBe(1);
    const records = parseLines(result.stderr);
    const runId = query<{ id: number }>(db, 'SELECT max(id) AS id FROM runs')[0]!.id;
    for (const record of records) {
      expect(Date.parse(record.time)).not.toBeNaN();
      expect(record).toMatchObject({ run: runId, shard: null });
      expect(['info', 'warn', 'error']).toContain(record.level);
    }
    expect(records[0]).toMatchObject({ event: 'run_start', level: 'info', tasks: ['preprocess', 'meta'] });
    expect(records.at(-1)).toMatchObject({ event: 'run_end', status: 'completed', exit_code: 1, done: 6, failed: 6 });
    expect(records.at(-1)!.duration_ms).toBeGreaterThan(0);

    const jobs = records.filter((r) => r.event === 'job_done' || r.event === 'job_failed');
    for (const job of jobs) {
      expect(typeof job.key).toBe('string');
      expect(typeof job.duration_ms).toBe('number');
      expect(job.attempt).toBe(1);
    }
    for (const failed of jobs.filter((r) => r.event === 'job_failed')) {
      expect(failed).toMatchObject({ level: 'error', code: 'E_DECODE' });
      expect(failed.message).toEqual(expect.any(String));
    }
    const logged = new Map(jobs.map((r) => [`${r.key}|${r.task}`, r.event === 'job_failed' ? r.code : null]));
    expect(logged).toEqual(ledgerJobs(db));

    // stdout: the --json events, untouched by the log.
    const summary = summaryOf(result.stdout);
    expect(summary).toMatchObject({ exitCode: 1, jobs: { done: 6, failed: 6 } });
    expect(events(result.stdout).filter((e) => e.event === 'job')).toHaveLength(12);
  });

  it('--log-file takes the JSON lines (appending), the shard included; stderr keeps its plain lines for people', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const log = path.join(work, 'run.jsonl');
    const args = ['run', ...INPUTS, '--tasks', 'meta', '--db', db, '--shard', '2/2', '--log-format', 'json', '--log-file', log];
    const first = await cli(args);
    const records = parseLines(readFileSync(log, 'utf8'));
    expect(records.every((r) => r.shard === '2/2')).toBe(true);
    const logged = new Map(records.filter((r) => r.event.startsWith('job_')).map((r) => [`${r.key}|${r.task}`, r.code ?? null]));
    expect(logged.size).toBeGreaterThan(0);
    expect(logged).toEqual(ledgerJobs(db));
    for (const line of first.stderr.split('\n').filter(Boolean)) expect(line).toMatch(/^imgpipe: /);
    expect(first.stdout).toMatch(/imgpipe: run \d+ completed/);

    await cli([...args, '--retry-failed']);
    const both = parseLines(readFileSync(log, 'utf8'));
    expect(both.filter((r) => r.event === 'run_start')).toHaveLength(2);
    expect(both.length).toBeGreaterThan(records.length);
  });

  it('--log-file in text format takes the plain progress lines', async () => {
    const work = scratch();
    const log = path.join(work, 'run.log');
    const result = await cli(['run', ...INPUTS, '--tasks', 'meta', '--db', path.join(work, 'ledger.db'), '--log-file', log]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    expect(readFileSync(log, 'utf8')).toMatch(/^imgpipe: failed: meta .*E_DECODE/m);
  });

  it.skipIf(!existsSync('/dev/full'))('a log file that stops taking writes (a full disk) is said once, and the log goes on on stderr; the run is unharmed', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    for (const format of ['json', 'text']) {
      const result = await cli(['run', ...INPUTS, '--tasks', 'meta', '--db', db, '--log-format', format, '--log-file', '/dev/full', '--force']);
      expect(result.code, result.stderr).toBe(1);
      const [warning, ...rest] = result.stderr.split('\n').filter(Boolean);
      expect(warning).toMatch(/^imgpipe: warning: cannot write the log file \/dev\/full \(ENOSPC.*\); logging to stderr from now on$/);
      // JSON: the log's lines join the plain ones that stderr keeps for people.
      if (format === 'json') expect(parseLines(`${rest.filter((line) => line.startsWith('{')).join('\n')}\n`).filter((r) => r.event === 'job_failed')).toHaveLength(3);
      else expect(rest.join('\n')).toMatch(/^imgpipe: failed: meta .*E_DECODE/m);
    }
    expect(query(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")).toEqual([{ n: 3 }]);
  });
});
