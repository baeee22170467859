/**
 * The records of a CSV manifest, each with the physical line it starts on. A malformed record
 * (a stray quote) is reported with its line and skipped, and reading goes on: one bad line must
 * not cost the run every good one.
 */
import { Parser, type CsvError, type Options } from 'csv-parse';
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { pipeline, Transform } from 'node:stream';

export interface CsvRecord {
  /** Each field as text; a field that is not valid UTF-8 has U+FFFD where its odd bytes were. */
  fields: Record<string, string>;
  /**
   * The bytes of the fields that are not valid UTF-8 (a Latin-1 name from an old camera or a
   * Windows share), by column: as text they would name no file.
   */
  undecodable: Readonly<Record<string, Buffer>>;
  line: number;
}

/** Options shared with the header check at start-up, so that both read the same columns. */
export const CSV_OPTIONS = {
  bom: true,
  // Spaces around an unquoted field are layout (`a.jpg, sku-1`); a quoted field is kept whole,
  // which is how a name with spaces at its ends is written.
  trim: true,
} as const;

export async function* csvRecords(file: string, onBadRecord: (line: number, message: string) => void): AsyncGenerator<CsvRecord> {
  const lines = new LineCounter();
  // The parser reports a bad record as soon as it meets it, ahead of the good records before it
  // that are still buffered: held here, so that they are reported in the file's order.
  const bad: { line: number; message: string }[] = [];
  const parser = new LinedParser(lines, {
    ...CSV_OPTIONS,
    columns: (header: string[]) => header.map((name) => restoredBytes(name)?.toString('utf8') ?? name),
    skip_empty_lines: true,
    relax_column_count: true,
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined, raw: string | undefined) => {
      if (!error) return undefined;
      // The offset is where the record starts (blank lines before it included) or, for an error in
      // a later field, the delimiter before that field.
      const blank = error.index === 0 ? lineBreaks(/^[\r\n]*/.exec(raw ?? '')![0]) : 0;
      const line = lines.lineAt(error.bytes as number) + blank;
      const message = csvProblem(error);
      const last = bad.at(-1);
      // After a bad closing quote the parser reads on inside the quotes, and meets the same error again.
      if (last?.line !== line || last.message !== message) bad.push({ line, message });
      return undefined;
    },
  });
  // Errors (a read failing half-way) reach the loop below through the parser.
  pipeline(createReadStream(file), new KeepOddBytes(), lines.tap, parser, () => {});
  const reportBefore = (line: number): void => {
    while (bad.length > 0 && bad[0]!.line < line) {
      const { line: badLine, message } = bad.shift()!;
      onBadRecord(badLine, message);
    }
  };
  for await (const record of parser as AsyncIterable<CsvRecord>) {
    reportBefore(record.line);
    yield record;
  }
  reportBefore(Infinity);
}

/**
 * Hands over each record with the physical line it starts on. csv-parse's own `lines` counts a
 * CRLF inside a quoted field twice, and gives a record's last line; and its `info` and
 * `on_record` options build an object a record, which doubled the parse time of a large manifest.
 * Instead: the parser's count of bytes processed, read as it hands a record over (synchronously,
 * at the record's end), is mapped to a line, then taken back over the record's own line breaks.
 */
class LinedParser extends Parser {
  constructor(
    private readonly lines: LineCounter,
    options: Options,
  ) {
    super({ ...options, raw: true });
  }

  override push(chunk: { record: Record<string, string>; raw: string } | null, encoding?: BufferEncoding): boolean {
    if (chunk === null) return super.push(null, encoding);
    // The blank lines skipped before a record are part of its raw text, but not of it.
    const line = this.lines.lineAt(this.info.bytes) - lineBreaks(chunk.raw.replace(/^[\r\n]+/, ''));
    // Nothing allocated for a record of plain text, the usual one: a manifest can have millions.
    let undecodable: Record<string, Buffer> = NONE;
    for (const column in chunk.record) {
      const value = chunk.record[column];
      const bytes = typeof value === 'string' ? restoredBytes(value) : undefined;
      if (bytes === undefined) continue;
      chunk.record[column] = bytes.toString('utf8');
      if (isUtf8(bytes)) continue;
      if (undecodable === NONE) undecodable = {};
      undecodable[column] = bytes;
    }
    return super.push({ fields: chunk.record, undecodable, line } satisfies CsvRecord, encoding);
  }
}

const NONE: Readonly<Record<string, Buffer>> = Object.freeze({});

/**
 * The parser decodes fields as UTF-8, where a byte that is not UTF-8 becomes U+FFFD and is lost.
 * Such bytes are carried through it instead as characters of the last private-use plane, U+10FF00
 * plus the byte (a Latin-1 \xe9 is U+10FFE9), which `restoredBytes` turns back: only the field's
 * bytes change, never a quote, comma, line break or space the parser reads. That range written in
 * the file (F4 8F BE xx, F4 8F BF xx) is carried the same way, byte by byte, so that every such
 * character comes from here, and the file's bytes always come back as they were.
 */
class KeepOddBytes extends Transform {
  /** The start of a UTF-8 sequence that a chunk ended in the middle of. */
  private held = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    if (isUtf8(bytes) && !bytes.includes(ESCAPE_LEAD)) {
      this.held = Buffer.alloc(0);
      return done(null, bytes);
    }
    const out: Buffer[] = [];
    let start = 0;
    let at = 0;
    while (at < bytes.length) {
      const length = sequenceLength(bytes, at);
      if (length > 0) {
        at += length;
        continue;
      }
      // Perhaps only cut by the chunk's end: kept for the next chunk.
      if (length === INCOMPLETE) break;
      out.push(bytes.subarray(start, at), escapeByte(bytes[at]!));
      at += 1;
      start = at;
    }
    out.push(bytes.subarray(start, at));
    this.held = Buffer.from(bytes.subarray(at));
    done(null, Buffer.concat(out));
  }

  override _flush(done: (error?: Error | null, data?: Buffer) => void): void {
    done(null, Buffer.concat(Array.from(this.held, escapeByte)));
  }
}

/** UTF-8 of U+10FF80 to U+10FFFF, the characters that stand for bytes 0x80 to 0xFF, starts so. */
const ESCAPE_LEAD = Buffer.from([0xf4, 0x8f]);
const INCOMPLETE = -1;
const NOT_UTF8 = 0;

function escapeByte(byte: number): Buffer {
  return Buffer.from(String.fromCodePoint(0x10ff00 + byte), 'utf8');
}

/** A field's bytes as they were in the file, or undefined when none were carried (its text is them). */
function restoredBytes(field: string): Buffer | undefined {
  if (!field.includes('\uDBFF')) return undefined;
  const parts = field.split(/(\uDBFF[\uDF80-\uDFFF])/);
  if (parts.length === 1) return undefined;
  return Buffer.concat(parts.map((part, index) => (index % 2 === 1 ? Buffer.from([part.codePointAt(0)! - 0x10ff00]) : Buffer.from(part, 'utf8'))));
}

/**
 * The length of the well-formed UTF-8 sequence at `at` (Unicode's table 3-7), NOT_UTF8 when there
 * is none, or INCOMPLETE when the bytes end before it could. A sequence for U+10FF80 to U+10FFFF
 * counts as not UTF-8, to be escaped.
 */
function sequenceLength(bytes: Buffer, at: number): number {
  const lead = bytes[at]!;
  if (lead < 0x80) return 1;
  let length: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return NOT_UTF8;
  for (let i = 1; i < length; i++) {
    if (at + i >= bytes.length) return INCOMPLETE;
    const byte = bytes[at + i]!;
    if (byte < (i === 1 ? low : 0x80) || byte > (i === 1 ? high : 0xbf)) return NOT_UTF8;
    if (lead === 0xf4 && i === 2 && byte >= 0xbe && bytes[at + 1] === 0x8f) return NOT_UTF8;
  }
  return length;
}

function csvProblem(error: CsvError): string {
  switch (error.code) {
    case 'INVALID_OPENING_QUOTE':
      return 'a quote inside an unquoted field (quote the whole field and double the quote: "a ""b"".jpg")';
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return 'text after the closing quote of a field';
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'a quote is never closed: the rest of the file was read as one field';
    default:
      return `not valid CSV: ${error.message}`;
  }
}

/** Line breaks as a text file has them: CRLF, LF or a lone CR, each one line. */
function lineBreaks(text: string): number {
  return text.match(/\r\n|\r|\n/g)?.length ?? 0;
}

/**
 * Physical line numbers of byte offsets in a stream read once, front to back: `tap` sees the bytes
 * on their way to the parser (so always ahead of it), and keeps them until `lineAt` has counted
 * past them. Offsets asked for must not decrease.
 */
class LineCounter {
  readonly tap = new Transform({
    transform: (chunk: Buffer, _encoding, done) => {
      this.chunks.push(chunk);
      done(null, chunk);
    },
  });
  private readonly chunks: Buffer[] = [];
  /** Offset of chunks[0]. */
  private chunksStart = 0;
  private offset = 0;
  private line = 1;
  private afterCr = false;

  lineAt(target: number): number {
    while (this.offset < target && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const end = Math.min(chunk.length, target - this.chunksStart);
      for (let i = this.offset - this.chunksStart; i < end; i++) {
        const byte = chunk[i];
        // CR counts, and so does LF unless it ends a CRLF.
        if (byte === 0x0d || (byte === 0x0a && !this.afterCr)) this.line += 1;
        this.afterCr = byte === 0x0d;
      }
      this.offset = this.chunksStart + end;
      if (end === chunk.length) {
        this.chunks.shift();
        this.chunksStart += chunk.length;
      }
    }
    return this.line;
  }
}
