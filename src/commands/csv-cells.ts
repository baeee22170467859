/** The cells of the CSV that `export` and `duplicates` write: RFC 4180 quoting, text a spreadsheet cannot run, one artefacts cell. */

/**
 * Excel, LibreOffice and Google Sheets run a cell that starts with one of these as a formula
 * (=HYPERLINK sends whatever the sheet holds to any address, =cmd|... ran programs in older
 * Excel). Keys and paths are file names, chosen by whoever uploaded the image; a task's result
 * may be text read from it: a moderator who opens the export must see them, not run them.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * OWASP's advice for CSV injection: a ' before such text makes the spreadsheet take it as text
 * (it shows the '). Only text: a number (a JSON value such as -5) is written as it is, and
 * stays a number in the sheet. `raw` (--csv-raw) is for programs (pandas, csvkit), which run
 * nothing and want the text as stored.
 */
export function spreadsheetText(text: string, raw: boolean): string {
  return !raw && FORMULA_START.test(text) ? `'${text}` : text;
}

/** A string as text, null as empty, anything else as JSON; quoted when it holds a quote, comma or line break. */
export function csvCell(value: unknown, raw: boolean): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? spreadsheetText(value, raw) : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A job's artefacts as one cell: none, empty; one, its path as it is (the common case, readable
 * in a sheet); several, a JSON array. Paths may hold spaces, commas and quotes, so no separator
 * could tell them apart. A path starts with its task's name (`preprocess/...`), never with `[`;
 * one that did would be written as an array too, so a cell that starts with `[` is always one.
 */
export function artifactsText(paths: readonly string[]): string {
  if (paths.length === 0) return '';
  return paths.length === 1 && !paths[0]!.startsWith('[') ? paths[0]! : JSON.stringify(paths);
}
