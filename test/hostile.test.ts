/**
 * The hostile corpus (fixtures/make-hostile.js): every item ends done or failed with its exact
 * code and a one-line reason, the run finishes, the good items get exactly the results they get
 * alone, the bomb is refused before allocation, and no input is modified.
 */
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOSTILE_EXPECTED, HOSTILE_LINKS, HOSTILE_MANIFEST_ONLY, HOSTILE_MAX_PIXELS, makeHostileCorpus, removeHostileCorpus } from '../fixtures/make-hostile.js';
import { cli, FIXTURES, ROOT, query, scratch, sha256File, summaryOf } from './helpers.js';

/** Root reads a chmod 000 file anyway: there the unreadable item proves nothing and is left out. */
const ROOT_USER = process.getuid?.() === 0;
const TASKS = ['meta', 'preprocess'];

type Row = { key: string; task: string; state: string; error_code: string | null; error_message: string | null; result: string | null };

function rows(db: string): Row[] {
  return query<Row>(db, 'SELECT i.key, j.task, j.state, j.error_code, j.error_message, j.result FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key, j.task');
}

/** key -> outcome (state, or the error code of a failure), one per task. */
function outcomes(db: string): Record<string, string> {
  return Object.fromEntries(rows(db).map((r) => [`${r.key}|${r.task}`, r.state === 'failed' ? r.error_code! : r.state]));
}

function expectedOutcomes(expected: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(expected).flatMap(([key, outcome]) => TASKS.map((task) => [`${key}|${task}`, outcome])));
}

/** sha256 and mtime of every regular file under `dir` that this user can read. */
function snapshot(dir: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (!entry.isFile() || (!ROOT_USER && entry.name === 'unreadable.jpg')) continue;
    sums.set(file, `${sha256File(file)} ${statSync(file).mtimeMs}`);
  }
  return sums;
}

describe('the hostile corpus', () => {
  const work = scratch('imgpipe-hostile-');
  const corpus = path.join(work, 'corpus');
  const db = path.join(work, 'ledger.db');
  const out = path.join(work, 'out');
  let before: Map<string, string>;
  let summary: Record<string, any>;
  let stderr: string;

  beforeAll(async () => {
    await makeHostileCorpus(corpus);
    before = snapshot(corpus);
    const run = await cli(['run', corpus, '--tasks', TASKS.join(','), '--max-pixels', String(HOSTILE_MAX_PIXELS), '--db', db, '--out', out, '--json']);
    expect(run.code, run.stderr).toBe(1);
    summary = summaryOf(run.stdout);
    stderr = run.stderr;
  });
  afterAll(() => removeHostileCorpus(corpus));

  it('every item ends done or failed with its exact code; symlinks are not followed', () => {
    const expected = expectedOutcomes(HOSTILE_EXPECTED);
    const actual = outcomes(db);
    if (ROOT_USER) {
      // Root reads a chmod 000 file (CAP_DAC_OVERRIDE): there it is simply done, and proves nothing.
      for (const task of TASKS) {
        expect(actual[`unreadable.jpg|${task}`]).toBe('done');
        delete actual[`unreadable.jpg|${task}`];
        delete expected[`unreadable.jpg|${task}`];
      }
    }
    expect(actual).toEqual(expected);
    // The loop links were not followed: not even recorded.
    expect(query(db, "SELECT key FROM images WHERE key LIKE 'loop-%'")).toEqual([]);
    expect(summary.images.scanProblems).toBe(0);
  });

  it('failures carry one-line reasons that say what is wrong', () => {
    const failed = rows(db).filter((r) => r.state === 'failed');
    for (const row of failed) {
      expect(row.error_message, row.key).toMatch(/^[^\n]{10,500}$/);
      expect(row.error_message, row.key).not.toMatch(/\bat .*\.js:\d+/);
    }
    const reason = (key: string) => failed.find((r) => r.key === key && r.task === 'meta')!.error_message;
    expect(reason('bomb.png')).toMatch(new RegExp(`more than ${HOSTILE_MAX_PIXELS} pixels \\(--max-pixels\\)`));
    expect(reason('photo.heic')).toMatch(/no HEVC decoder/);
    expect(reason('drawing-svg.png')).toMatch(/^SVG is refused/);
    // The run printed each failure on one line too.
    for (const line of stderr.split('\n').filter((l) => l.includes('failed:'))) expect(line).toMatch(/^imgpipe: failed: \w+ .+: E_[A-Z_]+ /);
  });

  it('reports what odd files really are, and says when only the first frame or page was used', () => {
    const result = (key: string, task: string) => JSON.parse(rows(db).find((r) => r.key === key && r.task === task)!.result!);
    expect(result('cmyk.jpg', 'meta')).toMatchObject({ colourSpace: 'cmyk', channels: 4 });
    expect(result('16-bit.png', 'meta')).toMatchObject({ bitDepth: 16, colourSpace: 'rgb16' });
    expect(result('grey-alpha.png', 'meta')).toMatchObject({ channels: 2, alpha: true, colourSpace: 'b-w' });
    expect(result('palette-transparent.png', 'meta')).toMatchObject({ alpha: true });
    expect(result('animated.gif', 'meta')).toMatchObject({ pages: 3, animated: true, firstPageOnly: true, width: 48, height: 32 });
    expect(result('multi-page.tiff', 'meta')).toMatchObject({ pages: 3, animated: false, firstPageOnly: true, width: 48, height: 32 });
    expect(result('cmyk.jpg', 'meta').firstPageOnly).toBe(false);
    expect(result('animated.gif', 'preprocess')).toMatchObject({ firstPageOnly: true, before: { pages: 3 }, after: { width: 48, height: 32 } });
    // The first frame is the red one.
    expect(result('animated.gif', 'meta').colours[0].name).toBe('red');
  });

  it('writes whole sRGB artefacts for the done items only, under names derived from their keys', async () => {
    const done = rows(db).filter((r) => r.task === 'preprocess' && r.state === 'done');
    for (const row of done) {
      const file = path.join(out, JSON.parse(row.result!).output);
      const header = await sharp(file).metadata();
      expect([header.format, header.space, header.channels], row.key).toEqual(['jpeg', 'srgb', 3]);
    }
    const written = readdirSync(path.join(out, 'preprocess'), { recursive: true }).map(String).filter((f) => statSync(path.join(out, 'preprocess', f)).isFile());
    expect(written.sort()).toEqual(done.map((r) => JSON.parse(r.result!).output.slice('preprocess/'.length)).sort());
    expect(written).toContain('new\nline.jpg');
    expect(written).toContain('-leading-dash.jpg');
  });

  it('memory stays bounded: the bomb is refused before allocation', () => {
    // Decoding the 30000 x 30000 bomb would take 900 MB at one byte per pixel.
    expect(summary.maxRssMb).toBeLessThan(500);
    expect(statSync(path.join(corpus, 'bomb.png')).size).toBeLessThan(200_000);
  });

  it('a huge file is not read whole on a guess: junk is refused from its first bytes, an image over 2 GiB by its size', async () => {
    // Sparse files: gigabytes on paper, nothing on disk, and nothing read unless imgpipe reads them.
    const big = path.join(work, 'big');
    mkdirSync(big);
    writeFileSync(path.join(big, 'zeros.jpg'), '');
    truncateSync(path.join(big, 'zeros.jpg'), 1_500_000_000);
    writeFileSync(path.join(big, 'huge.tiff'), Buffer.from('II*\0'));
    truncateSync(path.join(big, 'huge.tiff'), 3 * 2 ** 30);
    const run = await cli(['run', big, '--tasks', TASKS.join(','), '--db', path.join(work, 'big.db'), '--out', path.join(work, 'big-out'), '--json']);
    expect(run.code, run.stderr).toBe(1);
    const failed = rows(path.join(work, 'big.db')).map((r) => [r.key, r.task, r.error_code, r.error_message!.slice(0, 40)]);
    expect(failed).toEqual([
      ['huge.tiff', 'meta', 'E_TOO_LARGE', 'the TIFF file is 3221 MB: imgpipe reads '],
      ['huge.tiff', 'preprocess', 'E_TOO_LARGE', 'the TIFF file is 3221 MB: imgpipe reads '],
      ['zeros.jpg', 'meta', 'E_DECODE', 'not an image: the first bytes of this 15'],
      ['zeros.jpg', 'preprocess', 'E_DECODE', 'not an image: the first bytes of this 15'],
    ]);
    // Reading the junk whole would have cost 1.5 GB a job in flight.
    expect(summaryOf(run.stdout).maxRssMb).toBeLessThan(500);
  });

  it('the good items get exactly the results they get in a corpus of their own', async () => {
    const clean = path.join(work, 'clean');
    const good = Object.entries(HOSTILE_EXPECTED).filter(([key, outcome]) => outcome === 'done' && key !== 'unreadable.jpg').map(([key]) => key);
    for (const key of good) {
      mkdirSync(path.dirname(path.join(clean, key)), { recursive: true });
      copyFileSync(path.join(corpus, key), path.join(clean, key));
    }
    const cleanDb = path.join(work, 'clean.db');
    const run = await cli(['run', clean, '--tasks', TASKS.join(','), '--db', cleanDb, '--out', path.join(work, 'clean-out'), '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const pick = (file: string) => rows(file).filter((r) => good.includes(r.key)).map((r) => [r.key, r.task, r.state, r.result]);
    expect(pick(db)).toEqual(pick(cleanDb));
    expect(pick(cleanDb)).toHaveLength(good.length * TASKS.length);
  });

  it('never modifies an input', () => {
    expect(snapshot(corpus)).toEqual(before);
  });

  it('with --follow-symlinks a link loop is a failed job (E_READ), not a hang or a silent gap', async () => {
    const linksDb = path.join(work, 'links.db');
    const run = await cli(['run', corpus, '--tasks', 'meta', '--follow-symlinks', '--max-pixels', String(HOSTILE_MAX_PIXELS), '--db', linksDb, '--out', path.join(work, 'links-out'), '--quiet']);
    expect(run.code).toBe(1);
    const links = rows(linksDb).filter((r) => r.key in HOSTILE_LINKS);
    expect(links.map((r) => [r.key, r.error_code, r.error_message])).toEqual(
      Object.entries(HOSTILE_LINKS).map(([key, code]) => [key, code, 'cannot stat: ELOOP (a loop of symbolic links)']),
    );
  });

  it('a manifest naming an SVG, a folder and a link: each a failed job with its reason', async () => {
    const manifest = path.join(corpus, 'list.txt');
    writeFileSync(manifest, ['vector.svg', 'folder.jpg', 'loop-a.jpg', 'missing.jpg', 'with space.jpg'].join('\n'));
    try {
      const listDb = path.join(work, 'list.db');
      const run = await cli(['run', manifest, '--tasks', 'meta', '--db', listDb, '--out', path.join(work, 'list-out'), '--quiet']);
      expect(run.code).toBe(1);
      expect(rows(listDb).map((r) => [r.key, r.state, r.error_code, r.error_message?.slice(0, 30) ?? null])).toEqual([
        ['folder.jpg', 'failed', 'E_READ', 'not a regular file'],
        ['loop-a.jpg', 'failed', 'E_READ', 'is a symbolic link (pass --fol'],
        ['missing.jpg', 'failed', 'E_NOT_FOUND', 'no such file'],
        ['vector.svg', 'failed', HOSTILE_MANIFEST_ONLY['vector.svg'], 'SVG is refused: imgpipe does n'],
        ['with space.jpg', 'done', null, null],
      ]);
    } finally {
      unlinkSync(manifest);
    }
  });

  it.skipIf(ROOT_USER)('an unreadable file fails with E_READ (skipped as root, who can read a chmod 000 file)', () => {
    expect(outcomes(db)['unreadable.jpg|meta']).toBe('E_READ');
    expect(lstatSync(path.join(corpus, 'unreadable.jpg')).mode & 0o777).toBe(0);
  });
});

// The built engine, driven directly, so that a file can change between its scan and its job.
const { Ledger } = (await import(path.join(ROOT, 'dist/pipeline/ledger.js'))) as typeof import('../src/pipeline/ledger.js');
const { Scheduler } = (await import(path.join(ROOT, 'dist/pipeline/scheduler.js'))) as typeof import('../src/pipeline/scheduler.js');
const { scanInputs, classifyInputs } = (await import(path.join(ROOT, 'dist/pipeline/sources.js'))) as typeof import('../src/pipeline/sources.js');
const { resolveRunSettings } = (await import(path.join(ROOT, 'dist/commands/run-settings.js'))) as typeof import('../src/commands/run-settings.js');

describe('files that change under a run', () => {
  it('a file deleted after the scan fails E_NOT_FOUND; a file rewritten after the scan is processed as it now is, and stays done', async () => {
    const work = scratch('imgpipe-changing-');
    const input = path.join(work, 'in');
    mkdirSync(input);
    for (const name of ['deleted.png', 'rewritten.png', 'steady.png']) copyFileSync(path.join(FIXTURES, 'colours', 'red.png'), path.join(input, name));
    const replacement = path.join(FIXTURES, 'colours', 'red-blue.png');
    const file = path.join(work, 'l.db');
    const settings = resolveRunSettings([input], { tasks: 'meta', db: file, out: path.join(work, 'out'), threads: '2' }, {});
    const ledger = Ledger.openForWrite(file);
    ledger.acquireLock();
    const runId = ledger.startRun({ argv: [], cwd: work, tasks: ['meta'], shard: null, version: 'test' });
    // Changes each file right after the scanner has stat'ed it and handed it over.
    async function* changing() {
      for await (const ref of scanInputs(classifyInputs([input], work), { followSymlinks: false, stdin: process.stdin, onProblem: () => {} })) {
        yield ref;
        if (ref.key === 'deleted.png') unlinkSync(ref.path);
        if (ref.key === 'rewritten.png') copyFileSync(replacement, ref.path);
      }
    }
    const scheduler = new Scheduler(
      ledger,
      { runId, tasks: settings.tasks, threads: 2, maxAttempts: 3, retryFailed: false, force: false, outDir: path.join(work, 'out'), shard: undefined, graceMs: 1000, maxPixels: settings.maxPixels },
      { scanned: () => {}, planned: () => {}, skipped: () => {}, warning: () => {}, job: () => {} },
    );
    const result = await scheduler.run(changing());
    ledger.close();
    expect(result.failures).toEqual({ E_NOT_FOUND: { count: 1, example: expect.stringMatching(/^"deleted\.png": ENOENT/) } });

    const jobs = query<{ key: string; state: string; error_code: string | null; input_sha256: string | null; result: string | null }>(
      file,
      'SELECT i.key, j.state, j.error_code, j.input_sha256, j.result FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key',
    );
    expect(jobs.map((j) => [j.key, j.state, j.error_code])).toEqual([
      ['deleted.png', 'failed', 'E_NOT_FOUND'],
      ['rewritten.png', 'done', null],
      ['steady.png', 'done', null],
    ]);
    // The result and the hash describe the bytes the job read: the new content, red and blue.
    const rewritten = jobs[1]!;
    expect(rewritten.input_sha256).toBe(sha256File(replacement));
    expect(JSON.parse(rewritten.result!).colours.map((c: { name: string }) => c.name).sort()).toEqual(['blue', 'red']);

    // The next run knows the rewritten file's result holds: nothing is redone.
    const again = await cli(['run', input, '--tasks', 'meta', '--db', file, '--out', path.join(work, 'out'), '--json']);
    expect(summaryOf(again.stdout).jobs).toMatchObject({ done: 0, failed: 0, alreadyDone: 2 });
    expect(existsSync(path.join(input, 'deleted.png'))).toBe(false);
  });
});
