import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvRecords, type CsvRecord } from '../../src/pipeline/manifest-csv.js';

const bytes = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((part) => Buffer.from(part)));

async function read(content: Buffer): Promise<{ records: CsvRecord[]; problems: string[] }> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'imgpipe-csv-')), 'list.csv');
  writeFileSync(file, content);
  const records: CsvRecord[] = [];
  const problems: string[] = [];
  for await (const record of csvRecords(file, (line, message) => problems.push(`${line}: ${message}`))) records.push(record);
  return { records, problems };
}

describe('csvRecords', () => {
  it('keeps the bytes of a field that is not UTF-8, quoted or not, and trims only an unquoted one', async () => {
    const { records, problems } = await read(
      bytes([0xef, 0xbb, 0xbf], 'path,id\n  caf', [0xe9], '.png  ,a\n" caf', [0xe9], ' ",b\nvoil\u00e0.png,c\nnbsp\u00a0,d\nx\u{10ffff}y,e\nbad"q,f\n', [0xff], ',g'),
    );
    expect(problems).toEqual(['7: a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"".jpg")']);
    expect(records.map(({ fields, undecodable, line }) => ({ path: fields.path, id: fields.id, raw: undecodable.path?.toString('hex'), line }))).toEqual([
      { path: 'caf\uFFFD.png', id: 'a', raw: bytes('caf', [0xe9], '.png').toString('hex'), line: 2 },
      { path: ' caf\uFFFD ', id: 'b', raw: bytes(' caf', [0xe9], ' ').toString('hex'), line: 3 },
      // Valid UTF-8 ends (à is C3 A0, NBSP C2 A0) and the characters that carry odd bytes come through as text.
      { path: 'voil\u00e0.png', id: 'c', raw: undefined, line: 4 },
      { path: 'nbsp', id: 'd', raw: undefined, line: 5 },
      { path: 'x\u{10ffff}y', id: 'e', raw: undefined, line: 6 },
      { path: '\uFFFD', id: 'g', raw: 'ff', line: 8 },
    ]);
  });

  it('reads a name that the end of a read chunk (64 KiB) cuts in two, UTF-8 or not, whole', async () => {
    const CHUNK = 64 * 1024;
    const parts: Buffer[] = [Buffer.from('path\n')];
    const length = (): number => parts.reduce((sum, part) => sum + part.length, 0);
    // A line of filler, then a name whose bytes `before` and `after` lie on either side of a chunk's end.
    const nameAcross = (chunkEnd: number, before: (string | number[])[], after: (string | number[])[]): Buffer => {
      parts.push(Buffer.from('f'.repeat(chunkEnd - length() - 20) + '.png\n'));
      const head = bytes(...before);
      const name = bytes('n'.repeat(chunkEnd - length() - head.length), head, ...after);
      parts.push(name, Buffer.from('\n'));
      return name;
    };
    // A no-break space (C2 A0) at the end of an unquoted field, trimmed as a whole character although
    // cut after C2; then a Latin-1 \xe9 and € (E2 82 AC) cut after E2.
    const utf8 = nameAcross(CHUNK, ['.png', [0xc2]], [[0xa0]]);
    const latin1 = nameAcross(2 * CHUNK, [[0xe9, 0xe2]], [[0x82, 0xac], '.png']);
    parts.push(Buffer.from('last.png\n'));
    const { records, problems } = await read(Buffer.concat(parts));
    expect(problems).toEqual([]);
    expect(records.map((record) => record.line)).toEqual([2, 3, 4, 5, 6]);
    expect(records[1]!.fields.path).toBe(utf8.toString('utf8').trimEnd());
    expect(records[1]!.fields.path).toMatch(/n\.png$/);
    expect(records[1]!.undecodable).toEqual({});
    expect(records[3]!.fields.path).toMatch(/n\uFFFD\u20ac\.png$/);
    expect(records[3]!.undecodable.path).toEqual(latin1);
    expect(records[4]).toEqual({ fields: { path: 'last.png' }, undecodable: {}, line: 6 });
  });
});
