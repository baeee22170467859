/** `imgpipe export --format csv` on files whose names were chosen by someone else: safe to open in a spreadsheet, exact with --csv-raw. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, scratch } from './helpers.js';

/** Names an uploader could pick: each starts a formula in Excel, LibreOffice and Google Sheets but the last two. */
const FORMULA_NAMES = ['=HYPERLINK("evil.example","open me").jpg', '@SUM(A1).png', '+1+1.jpg', '-2+3.png'];
const NAMES = [...FORMULA_NAMES, 'sub dir/a b, "c".jpg', 'plain.png'];

describe('export --format csv', () => {
  const work = scratch();
  const db = path.join(work, 'l.db');
  const out = path.join(work, 'out dir');
  let jsonl: Record<string, any>[];

  beforeAll(async () => {
    const input = path.join(work, 'uploads');
    for (const [i, name] of NAMES.entries()) {
      mkdirSync(path.dirname(path.join(input, name)), { recursive: true });
      await sharp({ create: { width: 24 + i, height: 16, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } }).toFile(path.join(input, name));
    }
    const run = await cli(['run', input, '--tasks', 'meta,preprocess', '--db', db, '--out', out, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const exported = await cli(['export', '--db', db]);
    jsonl = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);
    expect(jsonl).toHaveLength(2 * NAMES.length);
  });

  async function csvRows(...flags: string[]): Promise<Record<string, string>[]> {
    const result = await cli(['export', '--db', db, '--format', 'csv', ...flags]);
    expect(result.code, result.stderr).toBe(0);
    return parse(result.stdout, { columns: true }) as Record<string, string>[];
  }

  it("by default, a name that would run as a formula reads as text: a ' before it, the name otherwise unchanged", async () => {
    const rows = await csvRows();
    expect(rows.map((row) => row.key)).toEqual(jsonl.map((record) => (FORMULA_NAMES.includes(record.key) ? `'${record.key}` : record.key)));
    expect(rows.find((row) => row.task === 'meta' && row.key.includes('HYPERLINK'))!.key).toBe(`'=HYPERLINK("evil.example","open me").jpg`);
    // Absolute paths, artefact paths (under their task's folder) and JSON results do not start a formula: left as they are.
    expect(rows.map((row) => [row.path, row.artifacts, row.result])).toEqual(
      jsonl.map((record) => [record.path, record.artifacts[0] ?? '', JSON.stringify(record.result)]),
    );
    // Numbers are numbers, without a '.
    for (const row of rows) expect([row.attempts, row.taskVersion, row.durationMs].map(Number)).not.toContain(Number.NaN);
  });

  it('--csv-raw writes every text as stored: the same values as the JSON lines', async () => {
    const rows = await csvRows('--csv-raw');
    expect(rows.map((row) => [row.key, row.path, row.artifacts])).toEqual(jsonl.map((record) => [record.key, record.path, record.artifacts[0] ?? '']));
    expect(rows.map((row) => row.key)).toEqual(expect.arrayContaining(FORMULA_NAMES));
  });

  it('the artifacts cell of a path with a space, a comma and quotes is that path: the artefact is there, the image it was made from', async () => {
    const row = (await csvRows()).find((candidate) => candidate.task === 'preprocess' && candidate.key === 'sub dir/a b, "c".jpg')!;
    expect(row.artifacts).toBe('preprocess/sub dir/a b, "c".jpg');
    const made = await sharp(path.join(out, row.artifacts)).metadata();
    expect([made.format, made.width, made.height]).toEqual(['jpeg', 24 + NAMES.indexOf('sub dir/a b, "c".jpg'), 16]);
  });

  it('--csv-raw without --format csv: exit 2 naming the flag, nothing written', async () => {
    const result = await cli(['export', '--db', db, '--csv-raw']);
    expect([result.code, result.stdout, result.stderr]).toEqual([2, '', 'imgpipe: error: --csv-raw applies to --format csv; add --format csv, or drop --csv-raw\n']);
  });
});
