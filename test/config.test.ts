/** How `run` settings come together: repeated list flags, a config file, --no- flags, and which one names a problem. */
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, events, FIXTURES, scratch, summaryOf } from './helpers.js';
import { parsePrometheus, valueOf } from './prometheus.js';

const photos = path.join(FIXTURES, 'colours');
const noIndex = { JOB_COMPLETION_INDEX: '', AWS_BATCH_JOB_ARRAY_INDEX: '' };

describe('task=N lists', () => {
  it('--concurrency given twice: both apply, as one list would (the pools have those sizes)', async () => {
    const work = scratch();
    const file = path.join(work, 'm.prom');
    const args = ['run', photos, '--tasks', 'meta,preprocess', '--threads', '4', '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--metrics-file', file, '--quiet'];
    const result = await cli([...args, '--concurrency', 'meta=1', '--concurrency', 'preprocess=3'], { env: noIndex });
    expect(result.code, result.stderr).toBe(0);
    const samples = parsePrometheus(readFileSync(file, 'utf8'));
    // Without the flags: meta 4 and preprocess 8 on 4 threads.
    expect([valueOf(samples, 'imgpipe_pool_workers', { task: 'meta' }), valueOf(samples, 'imgpipe_pool_workers', { task: 'preprocess' })]).toEqual([1, 3]);
  });

  it('--concurrency and --timeout given twice: a bad value in the first is not dropped for the second', async () => {
    const work = scratch();
    const base = ['run', photos, '--tasks', 'meta,preprocess', '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--quiet'];
    const concurrency = await cli([...base, '--concurrency', 'meta=0', '--concurrency', 'preprocess=1'], { env: noIndex });
    expect([concurrency.code, concurrency.stderr]).toEqual([2, 'imgpipe: error: --concurrency (meta): expected an integer from 1 to 256, got "0"\n']);
    const timeout = await cli([...base, '--timeout', 'meta=0', '--timeout', 'preprocess=5'], { env: noIndex });
    expect([timeout.code, timeout.stderr]).toEqual([2, 'imgpipe: error: --timeout (meta): expected a number from 0.1 to 86400, got "0"\n']);
  });
});

describe('--fail-on given twice', () => {
  it('both gates hold: the first is checked (and applies), not dropped for the second', async () => {
    const work = scratch();
    const result = await cli(['run', photos, '--tasks', 'nsfw', '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--quiet', '--fail-on', 'meta', '--fail-on', 'nsfw'], { env: noIndex });
    expect([result.code, result.stderr]).toEqual([2, "imgpipe: error: --fail-on: task 'meta' is not part of this run (tasks: nsfw)\n"]);
    expect(existsSync(path.join(work, 'l.db'))).toBe(false);
  });
});

describe('a config file', () => {
  it('a task its lists name that does not exist: the error names the config key, not a flag that was not given', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    const cases: [object, string][] = [
      [{ tasks: 'meta', concurrency: { preprocesss: 2 } }, "--config concurrency: unknown task 'preprocesss' (see imgpipe tasks)"],
      [{ tasks: 'meta', timeout: 'prepocess=5' }, "--config timeout: unknown task 'prepocess' (see imgpipe tasks)"],
      [{ tasks: 'meta', failOn: 'nsf' }, "--config failOn: unknown task 'nsf' (see imgpipe tasks)"],
      [{ tasks: 'meta', failOn: ['meta'] }, "--config failOn: task 'meta' does not flag images (tasks that do: nsfw)"],
      // Not in the run, but still no gate: a mistake whatever the run.
      [{ tasks: 'meta', failOn: ['ocr'] }, "--config failOn: task 'ocr' does not flag images (tasks that do: nsfw)"],
      [{ tasks: 'meta', concurrency: { preprocess: 0 } }, '--config concurrency (preprocess): expected an integer from 1 to 256, got 0'],
    ];
    for (const [content, message] of cases) {
      writeFileSync(config, JSON.stringify(content));
      const result = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config], { env: noIndex });
      expect([result.code, result.stderr], JSON.stringify(content)).toEqual([2, `imgpipe: error: ${message}\n`]);
    }
    // Given as flags, the flags are named, and a task not in the run is an error (a task forgotten in --tasks).
    writeFileSync(config, JSON.stringify({ tasks: 'meta', concurrency: { meta: 1 } }));
    for (const [flags, message] of [
      [['--concurrency', 'ocr=1'], "--concurrency: task 'ocr' is not part of this run (tasks: meta)"],
      [['--timeout', 'ocr=9'], "--timeout: task 'ocr' is not part of this run (tasks: meta)"],
      [['--fail-on', 'nsfw'], "--fail-on: task 'nsfw' is not part of this run (tasks: meta)"],
      [['--fail-on', 'nsf'], "--fail-on: unknown task 'nsf' (see imgpipe tasks)"],
    ] as const) {
      const flag = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config, ...flags], { env: noIndex });
      expect([flag.code, flag.stderr], flags.join(' ')).toEqual([2, `imgpipe: error: ${message}\n`]);
    }
    expect(existsSync(path.join(work, 'l.db'))).toBe(false);
  });

  it("its concurrency, timeout and failOn entries for a known task not in the run are left out, in the same one warning", async () => {
    const work = scratch();
    writeFileSync(path.join(work, 'c.json'), JSON.stringify({ tasks: 'meta', concurrency: { meta: 1, ocr: 2 }, timeout: { ocr: 60 }, failOn: 'nsfw', ocrLang: 'eng' }));
    const result = await cli(['run', photos, '--db', 'l.db', '--out', 'out', '--config', 'c.json', '--quiet'], { cwd: work, env: noIndex });
    expect([result.code, result.stderr]).toEqual([
      0,
      "imgpipe: warning: --config c.json: failOn (nsfw), concurrency (ocr), timeout (ocr), ocrLang ignored: tasks 'nsfw', 'ocr' are not part of this run (tasks: meta)\n",
    ]);
  });

  it('one option spelled two ways (maxAttempts and max-attempts): exit 2 naming both, not one silently dropped', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    writeFileSync(config, '{"tasks": "meta", "maxAttempts": 0, "max-attempts": 2}');
    const result = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config], { env: noIndex });
    expect([result.code, result.stderr]).toEqual([2, `imgpipe: error: --config: 'maxAttempts' and 'max-attempts' are one option (maxAttempts); keep one\n`]);
    expect(existsSync(path.join(work, 'l.db'))).toBe(false);
  });
});

describe('--tasks given twice', () => {
  it('both lists run, in order, each task once: a wrapper script adding --tasks does not drop the user\'s', async () => {
    const work = scratch();
    const args = ['run', photos, '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--json'];
    const result = await cli([...args, '--tasks', 'preprocess', '-t', 'meta,preprocess'], { env: noIndex });
    expect(result.code, result.stderr).toBe(0);
    expect(events(result.stdout).find((event) => event.event === 'run-start')!.tasks).toEqual(['preprocess', 'meta']);
    expect(summaryOf(result.stdout).jobs.done).toBe(4);
    // A bad name in the first list is still caught, not dropped for the second.
    const typo = await cli([...args, '--tasks', 'meat', '--tasks', 'meta'], { env: noIndex });
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringMatching(/unknown task 'meat'/)]);
  });
});

describe('a boolean a config file turns on, turned off by its --no- flag', () => {
  it('--no-quiet and --no-json: the text summary is back', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    const args = ['run', photos, '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--config', config];
    writeFileSync(config, JSON.stringify({ quiet: true }));
    expect((await cli(args, { env: noIndex })).stdout).toBe('');
    const loud = await cli([...args, '--no-quiet'], { env: noIndex });
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stdout).toMatch(/Nothing to do: all 2 jobs were already settled/);
    writeFileSync(config, JSON.stringify({ json: true }));
    const text = await cli([...args, '--no-json'], { env: noIndex });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^imgpipe: run \d+ completed in .*\nNothing to do: all 2 jobs/s);
  });

  it('--no-force keeps done jobs done; --no-retry-failed keeps failed jobs failed', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    const args = ['run', path.join(FIXTURES, 'broken'), '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--json', '--config', config];
    writeFileSync(config, '{}');
    const first = summaryOf((await cli(args, { env: noIndex })).stdout).jobs;
    expect(first.done).toBeGreaterThan(0);
    expect(first.failed).toBeGreaterThan(0);
    writeFileSync(config, JSON.stringify({ force: true, retryFailed: true }));
    const again = await cli([...args, '--no-force', '--no-retry-failed'], { env: noIndex });
    expect(summaryOf(again.stdout).jobs).toMatchObject({ done: 0, failed: 0, alreadyDone: first.done, alreadyFailed: first.failed });
  });

  it('--no-follow-symlinks skips links again', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(input);
    symlinkSync(path.join(photos, 'red.png'), path.join(input, 'red.png'));
    const config = path.join(work, 'c.json');
    writeFileSync(config, JSON.stringify({ followSymlinks: true }));
    const args = ['run', input, '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--json', '--config', config];
    expect(summaryOf((await cli([...args, '--no-follow-symlinks'], { env: noIndex })).stdout).images.scanned).toBe(0);
    expect(summaryOf((await cli(args, { env: noIndex })).stdout).images.scanned).toBe(1);
  });

  it('--no-ocr-text: no text file, as a task option that is a boolean', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    writeFileSync(config, JSON.stringify({ tasks: 'ocr', ocrText: true, ocrRotate: 'off' }));
    const out = path.join(work, 'out');
    const result = await cli(['run', path.join(photos, 'red.png'), '--db', path.join(work, 'l.db'), '--out', out, '--quiet', '--config', config, '--no-ocr-text'], { env: noIndex });
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(path.join(out, 'ocr')) ? readdirSync(path.join(out, 'ocr')) : []).toEqual([]);
    // Without it the config's true holds (other options: the job is redone), and the file is written.
    const configured = await cli(['run', path.join(photos, 'red.png'), '--db', path.join(work, 'l.db'), '--out', out, '--quiet', '--config', config], { env: noIndex });
    expect(configured.code, configured.stderr).toBe(0);
    expect(readdirSync(path.join(out, 'ocr'))).toEqual(['red.png.txt']);
  });

  it('without a config, the --no- forms change nothing (every such option is off by default)', async () => {
    const work = scratch();
    const result = await cli(
      ['run', photos, '--db', path.join(work, 'l.db'), '--out', path.join(work, 'out'), '--no-quiet', '--no-json', '--no-force', '--no-retry-failed', '--no-follow-symlinks'],
      { env: noIndex },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^imgpipe: run 1 completed .*\n {2}meta +2 +0 .*\n2 jobs in /s);
  });

  it('--help lists each --no- form', async () => {
    const help = (await cli(['run', '--help'])).stdout;
    for (const flag of ['--no-retry-failed', '--no-force', '--no-follow-symlinks', '--no-json', '--no-quiet', '--no-ocr-text']) expect(help).toContain(`  ${flag} `);
  });
});

describe('a config file with options of tasks not in the run', () => {
  const shared = { tasks: 'meta', ocrLang: 'eng', ocrText: true, preprocessQuality: 80 };
  const warning = "--config c.json: ocrLang, ocrText, preprocessQuality ignored: tasks 'ocr', 'preprocess' are not part of this run (tasks: meta)";

  it('runs, with one warning naming the keys: one config serves runs of different tasks', async () => {
    const work = scratch();
    writeFileSync(path.join(work, 'c.json'), JSON.stringify(shared));
    const args = ['run', photos, '--db', 'l.db', '--out', 'out', '--config', 'c.json'];
    const text = await cli([...args, '--quiet'], { cwd: work, env: noIndex });
    expect([text.code, text.stderr]).toEqual([0, `imgpipe: warning: ${warning}\n`]);
    // As every warning: an event with --json, a log line with --log-format json.
    const json = await cli([...args, '--json'], { cwd: work, env: noIndex });
    expect([json.code, json.stderr]).toEqual([0, '']);
    expect(events(json.stdout).filter((event) => event.event === 'warning').map((event) => event.message)).toEqual([warning]);
    const log = await cli([...args, '--log-format', 'json'], { cwd: work, env: noIndex });
    expect(log.code, log.stderr).toBe(0);
    expect(events(log.stderr).filter((line) => line.event === 'warning').map((line) => line.message)).toEqual([warning]);
    // A task the run has: its options apply and nothing is said.
    writeFileSync(path.join(work, 'c.json'), JSON.stringify({ ...shared, tasks: 'meta,preprocess,ocr' }));
    const all = await cli([...args, '--quiet', '--ocr-rotate', 'off'], { cwd: work, env: noIndex });
    expect([all.code, all.stderr]).toEqual([0, '']);
  });

  it('their values are still checked, and a typo in a key or a task is still an error; so is a flag for such a task', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    const cases: [object, string[], string][] = [
      [{ ...shared, preprocessQuality: 200 }, [], '--config preprocessQuality: expected an integer from 1 to 100, got 200'],
      [{ ...shared, ocrText: 'maybe' }, [], '--config ocrText: expected true or false, got "maybe"'],
      [{ ...shared, preprocessQualty: 80 }, [], "--config: unknown key 'preprocessQualty'"],
      [{ ...shared, tasks: 'meta,ocrr' }, [], "unknown task 'ocrr'"],
      [shared, ['--preprocess-quality', '80'], "--preprocess-quality is an option of task 'preprocess', which is not part of this run"],
      [shared, ['--no-ocr-text'], "--no-ocr-text is an option of task 'ocr', which is not part of this run"],
    ];
    for (const [content, flags, message] of cases) {
      writeFileSync(config, JSON.stringify(content));
      const result = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config, ...flags], { env: noIndex });
      expect([result.code, result.stderr], JSON.stringify([content, flags])).toEqual([2, expect.stringContaining(`imgpipe: error: ${message}`)]);
    }
    expect(existsSync(path.join(work, 'l.db'))).toBe(false);
  });
});
