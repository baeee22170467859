/** How `run` settings come together: repeated list flags, a config file, and which one names a problem. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  it('a task its lists name that is not in the run: the error names the config key, not a flag that was not given', async () => {
    const work = scratch();
    const config = path.join(work, 'c.json');
    const cases: [object, string][] = [
      [{ tasks: 'meta', concurrency: { preprocess: 2 } }, "--config concurrency: task 'preprocess' is not part of this run (tasks: meta)"],
      [{ tasks: 'meta', timeout: 'preprocess=5' }, "--config timeout: task 'preprocess' is not part of this run (tasks: meta)"],
      [{ tasks: 'meta', failOn: 'nsfw' }, "--config failOn: task 'nsfw' is not part of this run (tasks: meta)"],
      [{ tasks: 'meta', failOn: ['meta'] }, "--config failOn: task 'meta' does not flag images (tasks that do: nsfw)"],
    ];
    for (const [content, message] of cases) {
      writeFileSync(config, JSON.stringify(content));
      const result = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config], { env: noIndex });
      expect([result.code, result.stderr], JSON.stringify(content)).toEqual([2, `imgpipe: error: ${message}\n`]);
    }
    // Given as flags, the flags are named.
    writeFileSync(config, JSON.stringify({ tasks: 'meta', concurrency: { meta: 1 } }));
    const flag = await cli(['run', photos, '--db', path.join(work, 'l.db'), '--config', config, '--concurrency', 'ocr=1'], { env: noIndex });
    expect([flag.code, flag.stderr]).toEqual([2, "imgpipe: error: --concurrency: task 'ocr' is not part of this run (tasks: meta)\n"]);
    expect(existsSync(path.join(work, 'l.db'))).toBe(false);
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
