/**
 * The records of a CSV manifest, each with the physical line it starts on. A malformed record
 * (a stray quote) is reported with its line and skipped, and reading goes on: one bad line must
 * not cost the run every good one.
 */
import { Parser, type CsvError, type Options } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { pipeline, Transform } from 'node:stream';

export interface CsvRecord {
  fields: Record<string, string>;
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
    columns: true,
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
  pipeline(createReadStream(file), lines.tap, parser, () => {});
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
    return super.push({ fields: chunk.record, line } satisfies CsvRecord, encoding);
  }
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
