/**
 * Metrics of real runs: the Prometheus file (exact counts, replaced atomically, written on
 * Ctrl-C too), pushes to a real Pushgateway grouped by job and shard, and usage errors.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, collect, FIXTURES, makeImages, query, scratch, startCli } from './helpers.js';
import { parsePrometheus, valueOf, type Sample } from './prometheus.js';

const INPUTS = [path.join(FIXTURES, 'broken'), path.join(FIXTURES, 'colours')];

function sizeOfTree(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const file = path.join(dir, name);
    if (statSync(file).isFile()) total += statSync(file).size;
  }
  return total;
}

/** Jobs of one run in the ledger, by task and state. */
function ledgerCount(db: string, runId: number, task: string, state: string): number {
  return query<{ n: number }>(db, 'SELECT count(*) AS n FROM jobs WHERE run_id = ? AND task = ? AND state = ?', runId, task, state)[0]!.n;
}

describe('--metrics-file', () => {
  it('holds exact job counts, a duration histogram of the done jobs, bytes read and written; a resume shows the ledger totals', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const out = path.join(work, 'out');
    const file = path.join(work, 'imgpipe.prom');
    const args = ['run', ...INPUTS, '--tasks', 'preprocess,meta', '--db', db, '--out', out, '--metrics-file', file];
    const first = await cli(args);
    expect(first.code).toBe(1);
    const samples = parsePrometheus(readFileSync(file, 'utf8'));
    expect(samples.every((s) => s.labels.shard === '1/1')).toBe(true);
    const runId = query<{ id: number }>(db, 'SELECT max(id) AS id FROM runs')[0]!.id;
    expect(valueOf(samples, 'imgpipe_run_info', { run_id: String(runId) })).toBe(1);
    for (const task of ['preprocess', 'meta']) {
      const done = ledgerCount(db, runId, task, 'done');
      const failed = ledgerCount(db, runId, task, 'failed');
      expect([done, failed]).toEqual([3, 3]);
      expect(valueOf(samples, 'imgpipe_jobs_total', { task, state: 'done' })).toBe(done);
      expect(valueOf(samples, 'imgpipe_jobs_total', { task, state: 'failed' })).toBe(failed);
      expect(valueOf(samples, 'imgpipe_job_duration_seconds_count', { task })).toBe(done);
      expect(valueOf(samples, 'imgpipe_job_duration_seconds_bucket', { task, le: '+Inf' })).toBe(done);
      expect(valueOf(samples, 'imgpipe_ledger_jobs', { task, state: 'done' })).toBe(done);
      expect(valueOf(samples, 'imgpipe_ledger_jobs', { task, state: 'failed' })).toBe(failed);
      expect(valueOf(samples, 'imgpipe_ledger_jobs', { task, state: 'pending' })).toBe(0);
      expect(valueOf(samples, 'imgpipe_queue_depth', { task })).toBe(0);
      expect(valueOf(samples, 'imgpipe_pool_busy_workers', { task })).toBe(0);
      const utilization = valueOf(samples, 'imgpipe_pool_utilization_ratio', { task });
      expect(utilization).toBeGreaterThan(0);
      expect(utilization).toBeLessThanOrEqual(1);
      // Every image is read by each task, the broken ones included (the empty one is 0 bytes).
      expect(valueOf(samples, 'imgpipe_read_bytes_total', { task })).toBe(INPUTS.reduce((sum, dir) => sum + sizeOfTree(dir), 0));
    }
    expect(valueOf(samples, 'imgpipe_written_bytes_total', { task: 'preprocess' })).toBe(sizeOfTree(path.join(out, 'preprocess')));
    expect(valueOf(samples, 'imgpipe_written_bytes_total', { task: 'meta' })).toBe(0);
    const start = valueOf(samples, 'imgpipe_run_start_time_seconds');
    const end = valueOf(samples, 'imgpipe_run_end_time_seconds');
    expect(start).toBeGreaterThan(1.7e9);
    expect(end).toBeGreaterThanOrEqual(start);
    expect(readdirSync(work).filter((name) => name.includes('.tmp'))).toEqual([]);

    // Nothing left to do: this process settles nothing, the ledger totals are what earlier runs did.
    expect((await cli(args)).code).toBe(1);
    const again = parsePrometheus(readFileSync(file, 'utf8'));
    expect(valueOf(again, 'imgpipe_jobs_total', { task: 'meta', state: 'done' })).toBe(0);
    expect(valueOf(again, 'imgpipe_job_duration_seconds_count', { task: 'meta' })).toBe(0);
    expect(valueOf(again, 'imgpipe_ledger_jobs', { task: 'meta', state: 'done' })).toBe(3);
    expect(valueOf(again, 'imgpipe_ledger_jobs', { task: 'meta', state: 'failed' })).toBe(3);
    expect(valueOf(again, 'imgpipe_run_info', { run_id: String(runId + 1) })).toBe(1);
  });

  it('is replaced atomically while the run goes on (every read is whole), and written once more on Ctrl-C', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const file = path.join(work, 'imgpipe.prom');
    const images = await makeImages(path.join(work, 'in'), 40);
    // Paths on stdin, kept open: the run cannot end before the signal, however fast the machine.
    const child = startCli(['run', '-', '--tasks', 'meta', '--db', db, '--metrics-file', file, '--metrics-interval', '1'], { keepStdinOpen: true });
    const result = collect(child);
    child.stdin!.write(`${images.join('\n')}\n`);
    const versions = new Set<string>();
    let exited = false;
    void result.then(() => (exited = true));
    let signalled = false;
    while (!exited) {
      let text: string | undefined;
      try {
        text = readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      if (text !== undefined) {
        const samples = parsePrometheus(text);
        valueOf(samples, 'imgpipe_run_info');
        versions.add(text);
        if (!signalled && valueOf(samples, 'imgpipe_jobs_total', { task: 'meta', state: 'done' }) === images.length) {
          // stdin stays open: an interrupted run must stop reading it and exit.
          child.kill('SIGINT');
          signalled = true;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await result).code).toBe(130);
    expect(versions.size).toBeGreaterThanOrEqual(2);
    const last = parsePrometheus(readFileSync(file, 'utf8'));
    expect(valueOf(last, 'imgpipe_run_end_time_seconds')).toBeGreaterThan(0);
    const runId = query<{ id: number }>(db, 'SELECT max(id) AS id FROM runs')[0]!.id;
    expect(valueOf(last, 'imgpipe_jobs_total', { task: 'meta', state: 'done' })).toBe(ledgerCount(db, runId, 'meta', 'done'));
    expect(valueOf(last, 'imgpipe_ledger_jobs', { task: 'meta', state: 'done' })).toBe(images.length);
  });
});

/** Debian's package names it prometheus-pushgateway; upstream's release archive, pushgateway. */
const PUSHGATEWAY = spawnSync('sh', ['-c', 'command -v prometheus-pushgateway || command -v pushgateway'], { encoding: 'utf8' }).stdout.trim() || undefined;
if (!PUSHGATEWAY) {
  console.warn('metrics.test.ts: the Pushgateway test is SKIPPED: prometheus-pushgateway is not installed (Debian: apt-get install -y prometheus-pushgateway)');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function startPushgateway(work: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(PUSHGATEWAY!, [`--web.listen-address=127.0.0.1:${port}`, `--persistence.file=${path.join(work, 'pushgateway.data')}`], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i += 1) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return { url, child };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill();
  throw new Error('the Pushgateway did not become ready in 10 s');
}

describe('--pushgateway', () => {
  const gateways: ChildProcess[] = [];
  afterAll(() => gateways.forEach((child) => child.kill()));

  it.skipIf(!PUSHGATEWAY)(
    `pushes the run's metrics to a real Pushgateway, grouped by job and shard${PUSHGATEWAY ? '' : ' (SKIPPED: prometheus-pushgateway not installed)'}`,
    async () => {
      const work = scratch();
      const gateway = await startPushgateway(work);
      gateways.push(gateway.child);
      const db = path.join(work, 'ledger.db');
      const run = await cli(['run', ...INPUTS, '--tasks', 'meta', '--db', db, '--shard', '1/2', '--pushgateway', gateway.url, '--metrics-job', 'photos-nightly']);
      expect([1, 0]).toContain(run.code);
      expect(run.stderr).not.toMatch(/push failed/);
      const samples: Sample[] = parsePrometheus(await (await fetch(`${gateway.url}/metrics`)).text());
      const group = { job: 'photos-nightly', shard: '1/2' };
      const runId = query<{ id: number }>(db, 'SELECT max(id) AS id FROM runs')[0]!.id;
      const done = ledgerCount(db, runId, 'meta', 'done');
      const failed = ledgerCount(db, runId, 'meta', 'failed');
      expect(done + failed).toBeGreaterThan(0);
      expect(valueOf(samples, 'imgpipe_jobs_total', { ...group, task: 'meta', state: 'done' })).toBe(done);
      expect(valueOf(samples, 'imgpipe_jobs_total', { ...group, task: 'meta', state: 'failed' })).toBe(failed);
      expect(valueOf(samples, 'imgpipe_job_duration_seconds_count', { ...group, task: 'meta' })).toBe(done);
      expect(valueOf(samples, 'imgpipe_run_end_time_seconds', group)).toBeGreaterThan(0);
      expect(valueOf(samples, 'push_time_seconds', group)).toBeGreaterThan(0);
      expect(valueOf(samples, 'push_failure_time_seconds', group)).toBe(0);
    },
  );

  it('a Pushgateway that cannot be reached is one warning, and the run goes on as without it', async () => {
    const work = scratch();
    const unreachable = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(['run', ...INPUTS, '--tasks', 'meta', '--db', path.join(work, 'ledger.db'), '--pushgateway', unreachable, '--metrics-interval', '1']);
    expect(run.code).toBe(1);
    const warnings = run.stderr.split('\n').filter((line) => line.includes('--pushgateway'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/push failed .*ECONNREFUSED.*the run goes on/);
    expect(run.stdout).toMatch(/3 jobs failed/);
  });
});

describe('metrics and log flags: usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['not a URL', ['--pushgateway', 'pushgateway:9091'], /--pushgateway: expected an http\(s\) URL/],
    ['not http', ['--pushgateway', 'ftp://host:21'], /--pushgateway: expected an http\(s\) URL/],
    ['a job name with a slash', ['--pushgateway', 'http://localhost:9091', '--metrics-job', 'a/b'], /--metrics-job: expected a name/],
    ['a job name without a gateway', ['--metrics-job', 'x'], /--metrics-job applies to --pushgateway/],
    ['an interval out of range', ['--metrics-file', 'm.prom', '--metrics-interval', '0'], /--metrics-interval: expected a number from 1 to 3600/],
    ['a metrics file in a missing folder', ['--metrics-file', '/nonexistent/folder/m.prom'], /--metrics-file: cannot write \/nonexistent\/folder\/m.prom/],
    ['a log format', ['--log-format', 'xml'], /--log-format: expected one of text, json, got "xml"/],
    ['a log file in a folder that is a file', ['--log-file', path.join(FIXTURES, 'colours', 'red.png', 'run.log')], /--log-file: cannot write/],
  ];
  for (const [name, flags, message] of cases) {
    it(`${name}: exit 2 naming the flag, before the ledger`, async () => {
      const work = scratch();
      const db = path.join(work, 'ledger.db');
      const result = await cli(['run', INPUTS[1]!, '--db', db, ...flags], { cwd: work });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(existsSync(db)).toBe(false);
    });
  }

  it('the same keys in a --config file, named as config keys', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const config = path.join(work, 'config.json');
    writeFileSync(config, JSON.stringify({ pushgateway: 'nope' }));
    const bad = await cli(['run', INPUTS[1]!, '--db', db, '--config', config]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/--config pushgateway: expected an http\(s\) URL/)]);
    const file = path.join(work, 'from-config.prom');
    writeFileSync(config, JSON.stringify({ metricsFile: file, logFormat: 'json', metricsInterval: 2 }));
    const good = await cli(['run', INPUTS[1]!, '--db', db, '--config', config]);
    expect(good.code).toBe(0);
    expect(valueOf(parsePrometheus(readFileSync(file, 'utf8')), 'imgpipe_jobs_total', { task: 'meta', state: 'done' })).toBe(2);
    expect(JSON.parse(good.stderr.split('\n')[0]!).event).toBe('run_start');
  });
});
