/** imgpipe run end to end on the committed fixtures: results, failures, exit codes, resumability. */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, symlinkSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, collect, FIXTURES, query, scratch, sha256File, startCli, summaryOf, events, taskResults, waitForDone } from './helpers.js';

const keysOf = (db: string): string[] => query<{ key: string }>(db, 'SELECT key FROM images ORDER BY key').map((r) => r.key);

function checksums(dir: string): Map<string, string> {
  const sums = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else sums.set(file, sha256File(file));
    }
  };
  walk(dir);
  return sums;
}

describe('imgpipe run', () => {
  it('processes good images, fails broken ones with stable codes, exits 1, and never touches inputs', async () => {
    const work = scratch();
    const before = checksums(path.join(FIXTURES, 'broken'));
    const db = path.join(work, 'ledger.db');
    const out = path.join(work, 'out');
    const result = await cli(['run', path.join(FIXTURES, 'broken'), '--tasks', 'preprocess,meta', '--db', db, '--out', out, '--json']);
    expect(result.code).toBe(1);
    const summary = summaryOf(result.stdout);
    expect(summary.exitCode).toBe(1);
    expect(summary.jobs.done).toBe(2);
    expect(summary.jobs.failed).toBe(6);

    const failures = query<{ key: string; task: string; error_code: string; error_message: string }>(
      db,
      "SELECT i.key, j.task, j.error_code, j.error_message FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.state = 'failed' ORDER BY i.key, j.task",
    );
    const codes = Object.fromEntries(failures.map((f) => [`${f.key}|${f.task}`, f.error_code]));
    expect(codes).toEqual({
      'empty.png|meta': 'E_DECODE',
      'empty.png|preprocess': 'E_DECODE',
      'not-an-image.jpg|meta': 'E_DECODE',
      'not-an-image.jpg|preprocess': 'E_DECODE',
      'truncated.jpg|meta': 'E_DECODE',
      'truncated.jpg|preprocess': 'E_DECODE',
    });
    for (const failure of failures) expect(failure.error_message).not.toMatch(/\n/);
    expect(existsSync(path.join(out, 'preprocess', 'good.jpg'))).toBe(true);
    expect(existsSync(path.join(out, 'preprocess', 'truncated.jpg'))).toBe(false);
    expect(checksums(path.join(FIXTURES, 'broken'))).toEqual(before);

    const jobEvents = events(result.stdout).filter((e) => e.event === 'job');
    expect(jobEvents).toHaveLength(8);
    expect(jobEvents.filter((e) => e.state === 'failed').map((e) => e.code)).toEqual(Array(6).fill('E_DECODE'));
  });

  it('re-running a finished ledger does no work and says so; --retry-failed reruns only failures; --force redoes all', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const args = ['run', path.join(FIXTURES, 'broken'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out')];
    expect((await cli(args)).code).toBe(1);

    const again = await cli(args);
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/Nothing to do: all 4 jobs were already settled/);
    expect(again.stdout).toMatch(/--retry-failed to retry the 3 failed/);

    // No images at all is said as such, not as "all 0 jobs were already settled".
    mkdirSync(path.join(work, 'empty'));
    const empty = await cli(['run', path.join(work, 'empty'), '--db', path.join(work, 'empty.db'), '--out', path.join(work, 'out')]);
    expect(empty.stdout).toMatch(/Nothing to do: the inputs hold no images\./);
    const outside = await cli([...args, '--shard', '3/8', '--db', path.join(work, 'shard.db')]);
    expect(outside.stdout).toMatch(/Nothing to do: none of the 4 images falls in shard 3\/8\./);

    const retry = summaryOf((await cli([...args, '--retry-failed', '--json'])).stdout);
    expect(retry.jobs).toMatchObject({ done: 0, failed: 3, alreadyDone: 1 });

    const forced = summaryOf((await cli([...args, '--force', '--json'])).stdout);
    expect(forced.jobs).toMatchObject({ done: 1, failed: 3, alreadyDone: 0, alreadyFailed: 0 });
    const runs = query<{ n: number }>(db, 'SELECT count(*) AS n FROM runs')[0]!.n;
    expect(runs).toBe(4);
  });

  it('redoes a done job whose artefacts are gone from --out (deleted, or another --out), and only those', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const run = (out: string) => cli(['run', path.join(FIXTURES, 'colours'), '--tasks', 'preprocess,meta', '--db', db, '--out', path.join(work, out), '--json']);
    expect((await run('out')).code).toBe(0);
    rmSync(path.join(work, 'out', 'preprocess', 'red.png.jpg'));
    const again = await run('out');
    expect(summaryOf(again.stdout).tasks).toMatchObject({ preprocess: { done: 1, alreadyDone: 1 }, meta: { done: 0, alreadyDone: 2 } });
    expect(again.stdout).toMatch(/done jobs whose artefacts are not under --out .* are redone; the first: preprocess\/red\.png\.jpg/);
    expect(existsSync(path.join(work, 'out', 'preprocess', 'red.png.jpg'))).toBe(true);
    // Another --out gets its own copies; then there is nothing to do there.
    expect(summaryOf((await run('elsewhere')).stdout).tasks.preprocess).toMatchObject({ done: 2, alreadyDone: 0 });
    expect(readdirSync(path.join(work, 'elsewhere', 'preprocess')).sort()).toEqual(['red-blue.png.jpg', 'red.png.jpg']);
    expect(summaryOf((await run('elsewhere')).stdout).tasks.preprocess).toMatchObject({ done: 0, alreadyDone: 2 });
  });

  it('redoes a job when the file changes or the options change, and keeps it when only the mtime changes', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    cpSync(path.join(FIXTURES, 'colours'), input, { recursive: true });
    const db = path.join(work, 'ledger.db');
    const args = ['run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json'];
    expect(summaryOf((await cli(args)).stdout).jobs.done).toBe(2);

    // Same bytes, new mtime: the content hash proves the result still holds.
    const red = path.join(input, 'red.png');
    utimesSync(red, new Date(), new Date(Date.now() + 60_000));
    expect(summaryOf((await cli(args)).stdout).jobs).toMatchObject({ done: 0, alreadyDone: 2 });

    // New bytes: redone.
    cpSync(path.join(FIXTURES, 'photos', 'products', 'logo-transparent.png'), red);
    expect(summaryOf((await cli(args)).stdout).jobs).toMatchObject({ done: 1, alreadyDone: 1 });

    // Another option value: every job of that task is redone.
    expect(summaryOf((await cli([...args, '--meta-colours', '3'])).stdout).jobs).toMatchObject({ done: 2, alreadyDone: 0 });
  });

  it('reads manifests (txt, jsonl, csv) relative to their folder, and paths on stdin', async () => {
    const work = scratch();
    for (const manifest of ['photos.txt', 'photos.jsonl', 'photos.csv']) {
      const db = path.join(work, `${manifest}.db`);
      const result = await cli(['run', path.join(FIXTURES, 'manifests', manifest), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json'], { cwd: work });
      expect(result.code, result.stderr).toBe(0);
      const keys = query<{ key: string }>(db, 'SELECT key FROM images ORDER BY key').map((r) => r.key);
      expect(keys).toEqual(manifest === 'photos.txt' ? ['../photos/blurry.jpg', '../photos/dusk.jpg', '../photos/landscape.jpg', '../photos/products/mug.webp'] : ['sku-1', 'sku-2', 'sku-3', 'sku-4']);
    }
    const db = path.join(work, 'stdin.db');
    const input = ['fixtures/colours/red.png', 'fixtures/colours/red-blue.png', 'fixtures/colours/missing.png'].join('\n');
    const result = await cli(['run', '-', '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json'], { input });
    expect(result.code).toBe(1);
    const rows = query<{ key: string; state: string; error_code: string | null }>(db, 'SELECT i.key, j.state, j.error_code FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key');
    expect(rows).toEqual([
      { key: 'fixtures/colours/missing.png', state: 'failed', error_code: 'E_NOT_FOUND' },
      { key: 'fixtures/colours/red-blue.png', state: 'done', error_code: null },
      { key: 'fixtures/colours/red.png', state: 'done', error_code: null },
    ]);
  });

  it('processes paths from a slow producer on stdin as they come, before the input ends', async () => {
    const work = scratch();
    const db = path.join(work, 'l.db');
    const child = startCli(['run', '-', '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json'], { keepStdinOpen: true });
    const finished = collect(child);
    child.stdin!.write(`${path.join(FIXTURES, 'colours', 'red.png')}\n`);
    const done = await waitForDone(db);
    expect(done).toBe(1);
    child.stdin!.end(`${path.join(FIXTURES, 'colours', 'red-blue.png')}\n`);
    const result = await finished;
    expect(result.code, result.stderr).toBe(0);
    expect(summaryOf(result.stdout).jobs.done).toBe(2);
  });

  it('scans directories case-insensitively, skips symlinks unless asked (and survives a link loop), and ignores a directory named x.jpg', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(path.join(input, 'folder.jpg'), { recursive: true });
    cpSync(path.join(FIXTURES, 'colours', 'red.png'), path.join(input, 'UPPER.PNG'));
    writeFileSync(path.join(input, 'notes.txt'), 'not an image');
    symlinkSync(path.join(FIXTURES, 'colours', 'red-blue.png'), path.join(input, 'link.png'));
    // A link back to its own folder: followed, it must not loop.
    symlinkSync(input, path.join(input, 'loop'));
    const keys = async (extra: string[]): Promise<string[]> => {
      const db = path.join(work, `${extra.length}.db`);
      await cli(['run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet', ...extra]);
      return query<{ key: string }>(db, 'SELECT key FROM images ORDER BY key').map((r) => r.key);
    };
    expect(await keys([])).toEqual(['UPPER.PNG']);
    expect(await keys(['--follow-symlinks'])).toEqual(['UPPER.PNG', 'link.png']);
  });

  it('a file or folder whose name is not UTF-8 (Latin-1 from an old share) is reported as such, not as a missing file', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(input);
    const red = readFileSync(path.join(FIXTURES, 'colours', 'red.png'));
    writeFileSync(path.join(input, 'good.png'), red);
    // caf\xe9.png and photos-\xe9t\xe9/a.png: Latin-1 bytes, which UTF-8 cannot decode.
    const latin1 = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : Buffer.from(part))));
    writeFileSync(latin1(`${input}/caf`, [0xe9], '.png'), red);
    mkdirSync(latin1(`${input}/photos-`, [0xe9], 't', [0xe9]));
    writeFileSync(latin1(`${input}/photos-`, [0xe9], 't', [0xe9], '/a.png'), red);
    const db = path.join(work, 'ledger.db');
    const result = await cli(['run', input, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json']);
    expect(result.code).toBe(1);
    const jobs = query<{ key: string; state: string; error_code: string | null; error_message: string | null }>(
      db,
      'SELECT i.key, j.state, j.error_code, j.error_message FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key',
    );
    expect(jobs).toEqual([
      { key: 'caf\uFFFD.png', state: 'failed', error_code: 'E_READ', error_message: expect.stringContaining('its name is not valid UTF-8 (caf\\xe9.png)') },
      { key: 'good.png', state: 'done', error_code: null, error_message: null },
    ]);
    const warnings = events(result.stdout).filter((event) => event.event === 'warning').map((event) => event.message);
    expect(warnings).toEqual([expect.stringMatching(/photos-\uFFFDt\uFFFD: unreadable folder: its name is not valid UTF-8 \(photos-\\xe9t\\xe9\)/)]);
  });

  it('a manifest (txt, csv) or stdin line that is not UTF-8 names its file as the folder walk does: E_READ with its bytes when it exists, E_NOT_FOUND when not; a JSON line, which cannot, is skipped with a warning', async () => {
    const work = scratch();
    const red = readFileSync(path.join(FIXTURES, 'colours', 'red.png'));
    const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((part) => Buffer.from(part)));
    writeFileSync(bytes(`${work}/caf`, [0xe9], '.png'), red);
    writeFileSync(path.join(work, 'caf\u00e9-utf8.png'), red);
    // A BOM and CRLF endings (Notepad), a Latin-1 name that exists, one that does not, and a UTF-8 one.
    const list = bytes([0xef, 0xbb, 0xbf], 'caf', [0xe9], '.png\r\nmissing-', [0xe9], '.png\r\ncaf\u00e9-utf8.png\r\n');
    const expected = [
      { key: 'caf\u00e9-utf8.png', state: 'done', error_code: null, error_message: null },
      { key: 'caf\uFFFD.png', state: 'failed', error_code: 'E_READ', error_message: 'its name is not valid UTF-8 (caf\\xe9.png), and imgpipe keeps paths as UTF-8 text: rename it in UTF-8 (convmv does)' },
      { key: 'missing-\uFFFD.png', state: 'failed', error_code: 'E_NOT_FOUND', error_message: 'no such file (its name is not valid UTF-8: missing-\\xe9.png)' },
    ];
    const jobsOf = (db: string) =>
      query<{ key: string; state: string; error_code: string | null; error_message: string | null }>(
        db,
        'SELECT i.key, j.state, j.error_code, j.error_message FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key',
      );
    writeFileSync(path.join(work, 'list.txt'), list);
    const fromManifest = await cli(['run', path.join(work, 'list.txt'), '--tasks', 'meta', '--db', path.join(work, 'm.db'), '--out', path.join(work, 'out'), '--quiet']);
    expect(fromManifest.code, fromManifest.stderr).toBe(1);
    expect(jobsOf(path.join(work, 'm.db'))).toEqual(expected);
    // A CSV cell holds the same bytes: quoted or not, with an id or without.
    writeFileSync(path.join(work, 'list.csv'), bytes([0xef, 0xbb, 0xbf], 'path,id\r\ncaf', [0xe9], '.png,\r\n"missing-', [0xe9], '.png",\r\ncaf\u00e9-utf8.png\r\n'));
    const fromCsv = await cli(['run', path.join(work, 'list.csv'), '--tasks', 'meta', '--db', path.join(work, 'c.db'), '--out', path.join(work, 'out'), '--quiet']);
    expect(fromCsv.code, fromCsv.stderr).toBe(1);
    expect(jobsOf(path.join(work, 'c.db'))).toEqual(expected);
    // JSON cannot name those bytes: the line is a manifest problem (a warning, exit 1), not a missing file.
    writeFileSync(path.join(work, 'list.jsonl'), bytes('{"path": "caf', [0xe9], '.png"}\n{"path": "caf\u00e9-utf8.png"}\n'));
    const fromJsonl = await cli(['run', path.join(work, 'list.jsonl'), '--tasks', 'meta', '--db', path.join(work, 'j.db'), '--out', path.join(work, 'out'), '--json']);
    expect(fromJsonl.code, fromJsonl.stderr).toBe(1);
    expect(events(fromJsonl.stdout).filter((event) => event.event === 'warning').map((event) => event.message)).toEqual([
      `${path.join(work, 'list.jsonl')}:1: not valid UTF-8 ({"path": "caf\\xe9.png"}): JSON lines name files in UTF-8; rename the file in UTF-8 (convmv does), or list it in a .txt manifest (entry skipped)`,
    ]);
    expect(jobsOf(path.join(work, 'j.db'))).toEqual([expected[0]]);
    const child = startCli(['run', '-', '--tasks', 'meta', '--db', path.join(work, 's.db'), '--out', path.join(work, 'out'), '--quiet'], { cwd: work, keepStdinOpen: true });
    child.stdin!.end(list);
    const fromStdin = await collect(child);
    expect(fromStdin.code, fromStdin.stderr).toBe(1);
    expect(jobsOf(path.join(work, 's.db'))).toEqual(expected);
  });

  it('--json: stdout is only JSON lines, and every field of every event is in the README\'s table of events', async () => {
    const work = scratch();
    const db = path.join(work, 'ledger.db');
    const result = await cli(['run', path.join(FIXTURES, 'broken'), '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--json']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    const lines = result.stdout.trimEnd().split('\n');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const readme = readFileSync(path.join(FIXTURES, '..', 'README.md'), 'utf8');
    // The first table whose rows start with an event name: the --json one comes before the JSON logs'.
    const rows = new Map<string, string>();
    for (const [, name, text] of readme.matchAll(/^\| `([a-z-]+)` \| (.*) \|$/gm)) if (!rows.has(name!)) rows.set(name!, text!);
    const seen = new Set<string>();
    for (const event of parsed) {
      const name = String(event.event);
      seen.add(name);
      const row = rows.get(name);
      expect(row, `README has no row for the --json event ${name}`).toBeDefined();
      for (const field of Object.keys(event)) if (field !== 'event' && field !== 'time') expect(row, `${name}.${field}`).toContain(`\`${field}\``);
    }
    expect([...seen].sort()).toEqual(['job', 'run-start', 'summary']);
    expect(parsed.at(-1)).toMatchObject({ event: 'summary', exitCode: 1 });
  });

  it('takes globs, keyed relative to the glob base, and options from a config file', async () => {
    const work = scratch();
    const config = path.join(work, 'imgpipe.json');
    writeFileSync(config, JSON.stringify({ tasks: ['preprocess'], preprocessMaxSize: 32, 'preprocess-format': 'png', out: path.join(work, 'out') }));
    const db = path.join(work, 'ledger.db');
    const result = await cli(['run', 'fixtures/orientation/[1-3].jpg', '--config', config, '--db', db, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = query<{ key: string; result: string }>(db, 'SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key');
    expect(rows.map((r) => r.key)).toEqual(['1.jpg', '2.jpg', '3.jpg']);
    const first = JSON.parse(rows[0]!.result);
    expect(first).toMatchObject({ output: 'preprocess/1.jpg.png', format: 'png', after: { width: 32, height: 21 } });
    expect(existsSync(path.join(work, 'out', 'preprocess', '1.jpg.png'))).toBe(true);
  });

  it('names as long as the file system takes, a 250-byte one and a multibyte one, get their artefacts', async () => {
    const work = scratch();
    const input = path.join(work, 'in');
    mkdirSync(input);
    const names = [`${'x'.repeat(246)}.jpg`, `${'日'.repeat(80)}.jpg`];
    for (const name of names) cpSync(path.join(FIXTURES, 'photos', 'dusk.jpg'), path.join(input, name));
    const db = path.join(work, 'ledger.db');
    const out = path.join(work, 'out');
    const result = await cli(['run', input, '--tasks', 'preprocess', '--preprocess-max-size', '32', '--db', db, '--out', out, '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    const done = taskResults(db, 'preprocess');
    expect([...done.keys()].sort()).toEqual([...names].sort());
    for (const { output } of done.values()) expect(statSync(path.join(out, output)).isFile()).toBe(true);
  });

  it('an artefact never replaces the job\'s own input: that job fails E_WRITE, saying so, and the input stays as it was', async () => {
    const work = scratch();
    const inputs = path.join(work, 'out', 'preprocess');
    mkdirSync(inputs, { recursive: true });
    const photo = path.join(inputs, 'dusk.jpg');
    cpSync(path.join(FIXTURES, 'photos', 'dusk.jpg'), photo);
    const original = sha256File(photo);
    // A manifest id whose artefact is the input itself (--out over the inputs).
    writeFileSync(path.join(work, 'list.jsonl'), `${JSON.stringify({ path: 'out/preprocess/dusk.jpg', id: 'dusk.jpg' })}\n`);
    const named = await cli(['run', 'list.jsonl', '--tasks', 'preprocess', '--preprocess-max-size', '16', '--out', 'out', '--db', 'named.db'], { cwd: work });
    expect(named.code).toBe(1);
    expect(query(path.join(work, 'named.db'), 'SELECT state, error_code, error_message FROM jobs')).toEqual([
      { state: 'failed', error_code: 'E_WRITE', error_message: expect.stringMatching(/^the artefact would overwrite the input itself: .*out\/preprocess\/dusk\.jpg \(as preprocess\/dusk\.jpg under --out\); choose another --out$/) },
    ]);
    expect(named.stdout).toMatch(/1 job could not write their artefacts under --out out \(.*its own input.*\), e\.g\. "dusk\.jpg": the artefact would overwrite the input itself/);
    expect(sha256File(photo)).toBe(original);
    // Nothing else written, not even a temporary file.
    expect(readdirSync(inputs)).toEqual(['dusk.jpg']);
  });

  it('never scans its own --out folder, however it is written, nor its ledger; a file named explicitly is still taken', async () => {
    const work = scratch();
    const photos = path.join(work, 'photos');
    cpSync(path.join(FIXTURES, 'colours'), photos, { recursive: true });
    // The defaults put the ledger and ./imgpipe-out inside the folder scanned.
    const scan = async (args: string[]): Promise<number> => (await cli(['run', ...args, '--tasks', 'preprocess,meta', '--quiet'], { cwd: photos })).code!;
    expect(await scan(['.'])).toBe(0);
    expect(await scan(['.'])).toBe(0);
    expect(await scan(['**/*.jpg', '*.png'])).toBe(0);
    expect(await scan(['.', '--out', '../photos/./imgpipe-out'])).toBe(0);
    symlinkSync(path.join(photos, 'imgpipe-out'), path.join(work, 'link-out'));
    expect(await scan(['.', '--out', '../link-out'])).toBe(0);
    expect(keysOf(path.join(photos, 'imgpipe.db'))).toEqual(['red-blue.png', 'red.png']);
    expect(readdirSync(path.join(photos, 'imgpipe-out', 'preprocess')).sort()).toEqual(['red-blue.png.jpg', 'red.png.jpg']);

    // Named, it is taken: meta reads it; preprocess would write over it, and refuses (E_WRITE).
    expect(await scan(['imgpipe-out/preprocess/red.png.jpg'])).toBe(1);
    expect(keysOf(path.join(photos, 'imgpipe.db'))).toEqual(['red-blue.png', 'red.png', 'red.png.jpg']);
    expect(query(path.join(photos, 'imgpipe.db'), "SELECT j.task, j.state, j.error_code FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.key = 'red.png.jpg' ORDER BY j.task")).toEqual([
      { task: 'meta', state: 'done', error_code: null },
      { task: 'preprocess', state: 'failed', error_code: 'E_WRITE' },
    ]);
  });

  it('a malformed CSV record is warned with its line and skipped, and the rest of the manifest runs', async () => {
    const work = scratch();
    cpSync(path.join(FIXTURES, 'colours'), work, { recursive: true });
    const lines = [
      'path,id',
      'red.png,a',
      '"two',
      'lines.png",b',
      '',
      ',c',
      'red "x".png,d',
      'red-blue.png,e',
    ];
    for (const ending of ['\n', '\r\n']) {
      const manifest = path.join(work, 'list.csv');
      writeFileSync(manifest, lines.join(ending));
      const db = path.join(work, `${ending.length}.db`);
      const result = await cli(['run', manifest, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], { cwd: work });
      expect(result.code, result.stderr).toBe(1);
      // Physical lines, not record numbers: a quoted field spans lines 3 and 4 (CRLF inside it too).
      expect(result.stderr.match(/list\.csv:\d+: .*/g)).toEqual([
        'list.csv:6: empty path (entry skipped)',
        'list.csv:7: a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"".jpg") (entry skipped)',
      ]);
      expect(keysOf(db)).toEqual(['a', 'b', 'e']);
    }
  });

  it('takes a manifest or stdin line whole, spaces included: only the line ending (and a BOM) goes', async () => {
    const work = scratch();
    cpSync(path.join(FIXTURES, 'colours', 'red.png'), path.join(work, 'red.png'));
    cpSync(path.join(FIXTURES, 'colours', 'red-blue.png'), path.join(work, 'trail.png '));
    cpSync(path.join(FIXTURES, 'colours', 'red-blue.png'), path.join(work, ' lead.png'));
    const states = (db: string) => query<{ key: string; state: string }>(db, 'SELECT i.key, j.state FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key');
    const expected = [
      { key: ' lead.png', state: 'done' },
      { key: 'red.png', state: 'done' },
      { key: 'trail.png ', state: 'done' },
    ];
    writeFileSync(path.join(work, 'list.txt'), '\uFEFFred.png\r\ntrail.png \r\n lead.png\r\n  \r\n  # a comment\r\n');
    const manifest = await cli(['run', path.join(work, 'list.txt'), '--tasks', 'meta', '--db', path.join(work, 'txt.db'), '--quiet']);
    expect(manifest.code, manifest.stderr).toBe(0);
    expect(states(path.join(work, 'txt.db'))).toEqual(expected);
    const stdin = await cli(['run', '-', '--tasks', 'meta', '--db', path.join(work, 'stdin.db'), '--quiet'], { cwd: work, input: 'red.png\ntrail.png \n lead.png\n' });
    expect(stdin.code, stdin.stderr).toBe(0);
    expect(states(path.join(work, 'stdin.db'))).toEqual(expected);
  });

  it('a JSONL id that is not a string or a number is a bad line, not a key', async () => {
    const work = scratch();
    const manifest = path.join(work, 'list.jsonl');
    const red = path.join(FIXTURES, 'colours', 'red.png');
    writeFileSync(manifest, [{ path: red, id: { a: 1 } }, { path: red, id: [1] }, { path: red, id: true }, { path: red, id: 7 }].map((r) => JSON.stringify(r)).join('\n'));
    const db = path.join(work, 'l.db');
    const result = await cli(['run', manifest, '--tasks', 'meta', '--db', db, '--quiet']);
    expect(result.code).toBe(1);
    expect(result.stderr.match(/list\.jsonl:\d+: .*/g)).toEqual([
      'list.jsonl:1: "id" must be a string or a number, not {"a":1} (entry skipped)',
      'list.jsonl:2: "id" must be a string or a number, not [1] (entry skipped)',
      'list.jsonl:3: "id" must be a string or a number, not true (entry skipped)',
    ]);
    expect(keysOf(db)).toEqual(['7']);
  });

  it('a manifest that cannot be read after the start-up check stops the run: one line, exit 2, finished jobs kept, run failed, lock released', async () => {
    const work = scratch();
    cpSync(path.join(FIXTURES, 'colours'), work, { recursive: true });
    // Deleted between the check and the read (ENOENT), or a folder in its place (EISDIR, at the first read).
    const cases = [
      { name: 'list.txt', text: 'red.png\n', spoil: (file: string) => unlinkSync(file), reason: 'ENOENT: no such file or directory' },
      { name: 'list.jsonl', text: '{"path": "red.png"}\n', spoil: (file: string) => (unlinkSync(file), mkdirSync(file)), reason: 'EISDIR: illegal operation on a directory' },
      { name: 'list.csv', text: 'path\nred.png\n', spoil: (file: string) => (unlinkSync(file), mkdirSync(file)), reason: 'EISDIR: illegal operation on a directory' },
    ];
    for (const { name, text, spoil, reason } of cases) {
      const manifest = path.join(work, name);
      writeFileSync(manifest, text);
      const db = path.join(work, `${name}.db`);
      // stdin comes first: its image is done before the manifest is opened, which is only once stdin ends.
      const child = startCli(['run', '-', name, '--tasks', 'meta', '--db', db, '--out', path.join(work, 'out'), '--quiet'], { cwd: work, keepStdinOpen: true });
      const finished = collect(child);
      child.stdin!.write('red-blue.png\n');
      await waitForDone(db);
      spoil(manifest);
      child.stdin!.end();
      const result = await finished;
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^imgpipe: error: cannot read manifest ${name.replace('.', '\\.')}: ${reason}[^\n]*\n$`))]);
      expect(query(db, 'SELECT i.key, j.task, j.state FROM jobs j JOIN images i ON i.id = j.image_id')).toEqual([{ key: 'red-blue.png', task: 'meta', state: 'done' }]);
      expect(query(db, 'SELECT status, ended_at IS NOT NULL AS ended FROM runs')).toEqual([{ status: 'failed', ended: 1 }]);
      expect(query(db, 'SELECT * FROM lock')).toEqual([]);
      expect((await cli(['status', '--db', db])).stdout).toMatch(/last run: #1 failed, started \S+, [\d.]+ s/);
    }
  });

  it('refuses a folder or glob input that is --out or inside one of the run\'s artefact folders, however spelt, before any work (exit 2)', async () => {
    const work = scratch();
    const photos = path.join(work, 'photos');
    cpSync(path.join(FIXTURES, 'colours'), photos, { recursive: true });
    expect((await cli(['run', '.', '--tasks', 'preprocess', '--quiet'], { cwd: photos })).code).toBe(0);
    const out = path.join(photos, 'imgpipe-out');
    expect(readdirSync(out)).toEqual(['preprocess']);
    symlinkSync(out, path.join(work, 'link-out'));
    const refused = async (args: string[]): Promise<string> => {
      const db = path.join(work, 'refused.db');
      const result = await cli(['run', ...args, '--tasks', 'preprocess', '--db', db, '--quiet'], { cwd: photos });
      expect(result.code, result.stderr).toBe(2);
      // Before any work: no ledger, nothing written under --out.
      expect(existsSync(db)).toBe(false);
      return result.stderr;
    };
    const advice = ': the run would take its own artefacts for images; choose another --out\n';
    expect(await refused(['imgpipe-out'])).toBe(`imgpipe: error: input imgpipe-out is the --out folder ./imgpipe-out${advice}`);
    const inPreprocess = ", where this run writes preprocess's artefacts: the run would take them for images; choose another --out\n";
    expect(await refused(['imgpipe-out/preprocess'])).toBe(`imgpipe: error: input imgpipe-out/preprocess is imgpipe-out/preprocess${inPreprocess}`);
    expect(await refused(['imgpipe-out/preprocess/../../imgpipe-out/'])).toMatch(/is the --out folder \.\/imgpipe-out:/);
    expect(await refused(['imgpipe-out/**/*.jpg'])).toBe(`imgpipe: error: input imgpipe-out/**/*.jpg searches the --out folder ./imgpipe-out${advice}`);
    expect(await refused([`${out}/preprocess/*.jpg`])).toMatch(/searches imgpipe-out\/preprocess, where this run writes preprocess's artefacts:/);
    // Through a link, as input or as --out.
    expect(await refused(['../link-out'])).toBe(`imgpipe: error: input ../link-out is the --out folder ./imgpipe-out${advice}`);
    expect(await refused(['../link-out/preprocess'])).toBe(`imgpipe: error: input ../link-out/preprocess is imgpipe-out/preprocess${inPreprocess}`);
    expect(await refused(['imgpipe-out/preprocess', '--out', '../link-out'])).toBe(`imgpipe: error: input imgpipe-out/preprocess is ../link-out/preprocess${inPreprocess}`);
    // A link inside the inputs that leads into --out, named as the input.
    symlinkSync(path.join(out, 'preprocess'), path.join(photos, 'shortcut'));
    expect(await refused(['shortcut'])).toBe(`imgpipe: error: input shortcut is imgpipe-out/preprocess${inPreprocess}`);
    mkdirSync(path.join(out, 'preprocess', 'deeper'));
    expect(await refused(['imgpipe-out/preprocess/deeper'])).toBe(`imgpipe: error: input imgpipe-out/preprocess/deeper is a folder inside imgpipe-out/preprocess${inPreprocess}`);
    rmSync(path.join(out, 'preprocess', 'deeper'), { recursive: true });
    expect(readdirSync(out)).toEqual(['preprocess']);
    expect(readdirSync(path.join(out, 'preprocess')).sort()).toEqual(['red-blue.png.jpg', 'red.png.jpg']);

    // The same folders under another --out are inputs like any other.
    const elsewhere = await cli(['run', 'imgpipe-out/preprocess', '--tasks', 'meta', '--db', path.join(work, 'other.db'), '--out', path.join(work, 'other-out'), '--quiet'], { cwd: photos });
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    expect(keysOf(path.join(work, 'other.db'))).toEqual(['red-blue.png.jpg', 'red.png.jpg']);
    // A folder inside --out that no task of the run writes to is an input like any other: its
    // scan cannot reach OUT/<task> (`imgpipe run data/photos --out data`).
    const inbox = path.join(out, 'inbox');
    cpSync(path.join(FIXTURES, 'colours'), inbox, { recursive: true });
    const inside = await cli(['run', 'imgpipe-out/inbox', '--tasks', 'preprocess', '--db', path.join(work, 'inbox.db'), '--quiet'], { cwd: photos });
    expect(inside.code, inside.stderr).toBe(0);
    expect(keysOf(path.join(work, 'inbox.db'))).toEqual(['red-blue.png', 'red.png']);
    expect(readdirSync(path.join(out, 'preprocess')).sort()).toEqual(['red-blue.png.jpg', 'red.png.jpg']);
    // And a run whose tasks write nowhere there may read another task's artefacts: meta reads preprocess's.
    const metaOfArtefacts = await cli(['run', 'imgpipe-out/preprocess', '--tasks', 'meta', '--db', path.join(work, 'meta.db'), '--quiet'], { cwd: photos });
    expect(metaOfArtefacts.code, metaOfArtefacts.stderr).toBe(0);
    expect(keysOf(path.join(work, 'meta.db'))).toEqual(['red-blue.png.jpg', 'red.png.jpg']);
  });
});
