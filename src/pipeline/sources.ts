/**
 * Inputs -> a stream of ImageRefs: directories (recursive), single files, globs, manifests
 * (.txt, .jsonl, .csv) and `-` for paths on stdin. Everything streams: a manifest of a
 * million lines is never held in memory, and the consumer pulls at its own pace.
 */
import picomatch from 'picomatch';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { createReadStream, openSync, readSync, closeSync, statSync, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { UsageError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { parsePath } from '../validate.js';
import { CSV_OPTIONS, csvRecords } from './manifest-csv.js';
import type { ImageRef } from './types.js';
import { walk } from './walk.js';

export const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp', 'avif', 'gif', 'tif', 'tiff', 'heic', 'heif'] as const;
const STAT_AHEAD = 64;
const IMAGE_NAME = new RegExp(`\\.(${IMAGE_EXTENSIONS.join('|')})$`, 'i');

type ManifestFormat = 'txt' | 'jsonl' | 'csv';
const MANIFEST_FORMATS: Record<string, ManifestFormat> = { '.txt': 'txt', '.jsonl': 'jsonl', '.ndjson': 'jsonl', '.csv': 'csv' };

export type InputSpec =
  | { kind: 'stdin'; raw: string }
  | { kind: 'directory'; raw: string; path: string }
  | { kind: 'file'; raw: string; path: string }
  | { kind: 'manifest'; raw: string; path: string; format: ManifestFormat }
  | { kind: 'glob'; raw: string; base: string; match: (relative: string) => boolean };

/** An input entry that names no image at all (a malformed manifest line): reported, not recorded. */
export interface ScanProblem {
  source: string;
  line?: number;
  message: string;
}

export interface ScanOptions {
  followSymlinks: boolean;
  stdin: NodeJS.ReadableStream;
  onProblem: (problem: ScanProblem) => void;
  /**
   * The run's --out folder, never scanned into: it holds the artefacts of this run and earlier
   * ones, which would come back as inputs (`imgpipe run .` with the default ./imgpipe-out).
   */
  outDir?: string;
}

/** Paths in the ledger use forward slashes whatever the platform, so keys agree across machines. */
function toKey(relative: string): string {
  const normal = path.posix.normalize(relative.split(path.sep).join('/'));
  return normal.startsWith('./') ? normal.slice(2) : normal;
}

/** The start of a manifest, read at once so that an unreadable one stops the run before any work. */
function manifestStart(file: string, raw: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buffer = Buffer.alloc(64 * 1024);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, length).toString('utf8');
  } catch (error) {
    throw new UsageError(`cannot read manifest ${raw}: ${(error as Error).message}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function csvHeader(start: string, raw: string): string[] {
  const firstLine = start.split(/\r?\n/, 1)[0] ?? '';
  try {
    return (parseCsvSync(firstLine, CSV_OPTIONS) as string[][])[0] ?? [];
  } catch (error) {
    throw new UsageError(`manifest ${raw}:1: its header is not valid CSV (${(error as Error).message})`);
  }
}

/** Checks every input before any work, so that a typo exits 2 instead of half a run. */
export function classifyInputs(inputs: readonly string[], cwd: string): InputSpec[] {
  if (inputs.length === 0) throw new UsageError('no inputs: give directories, files, globs, manifests or - (see imgpipe run --help)');
  if (inputs.filter((input) => input === '-').length > 1) throw new UsageError('input - (stdin) given more than once');
  return inputs.map((raw): InputSpec => {
    if (raw === '-') return { kind: 'stdin', raw };
    // path.resolve would make "" the current folder, and scan it.
    parsePath('input', raw);
    const absolute = path.resolve(cwd, raw);
    let stats: Stats | undefined;
    try {
      stats = statSync(absolute);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new UsageError(`cannot read input ${raw}: ${(error as Error).message}`);
      }
    }
    if (stats?.isDirectory()) return { kind: 'directory', raw, path: absolute };
    if (stats) {
      const format = MANIFEST_FORMATS[path.extname(absolute).toLowerCase()];
      if (!format) return { kind: 'file', raw, path: absolute };
      const start = manifestStart(absolute, raw);
      if (format === 'csv' && !csvHeader(start, raw).includes('path')) {
        throw new UsageError(`manifest ${raw}: its first line must name a 'path' column (and optionally 'id')`);
      }
      return { kind: 'manifest', raw, path: absolute, format };
    }
    const pattern = raw.split(path.sep).join('/');
    const glob = picomatch.scan(pattern);
    if (!glob.isGlob) throw new UsageError(`input not found: ${raw}`);
    const base = path.resolve(cwd, glob.base || '.');
    // A typo in a glob's folder is a missing input, as in a plain path: not a run that finds nothing.
    if (!isFolder(base, raw)) throw new UsageError(`input not found: ${raw} (no folder ${glob.base})`);
    const matches = picomatch(glob.glob, { nocase: true });
    return { kind: 'glob', raw, base, match: (relative) => matches(relative) && IMAGE_NAME.test(relative) };
  });
}

function isFolder(folder: string, raw: string): boolean {
  try {
    return statSync(folder).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new UsageError(`cannot read input ${raw}: ${(error as Error).message}`);
  }
}

function statProblem(error: NodeJS.ErrnoException): { code: ErrorCode; message: string } {
  if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return { code: 'E_NOT_FOUND', message: 'no such file' };
  if (error.code === 'ELOOP') return { code: 'E_READ', message: 'cannot stat: ELOOP (a loop of symbolic links)' };
  return { code: 'E_READ', message: `cannot stat: ${error.code ?? error.message}` };
}

/** A manifest or stdin entry: named explicitly, so stat it and say precisely what is wrong. */
async function refFromEntry(key: string, file: string, followSymlinks: boolean): Promise<ImageRef> {
  try {
    let stats = await lstat(file);
    if (stats.isSymbolicLink()) {
      if (!followSymlinks) {
        return { key, path: file, size: null, mtimeMs: null, problem: { code: 'E_READ', message: 'is a symbolic link (pass --follow-symlinks to follow it)' } };
      }
      stats = await stat(file);
    }
    if (!stats.isFile()) {
      return { key, path: file, size: null, mtimeMs: null, problem: { code: 'E_READ', message: 'not a regular file' } };
    }
    return { key, path: file, size: stats.size, mtimeMs: stats.mtimeMs };
  } catch (error) {
    return { key, path: file, size: null, mtimeMs: null, problem: statProblem(error as NodeJS.ErrnoException) };
  }
}

interface Entry {
  key: string;
  file: string;
}

/**
 * Stats up to STAT_AHEAD entries at once, yielding in input order: parallel enough to hide
 * latency, bounded in memory, and never waiting on a slow source while a stat is ready.
 */
async function* statInOrder(entries: AsyncIterable<Entry>, followSymlinks: boolean): AsyncGenerator<ImageRef> {
  const iterator = entries[Symbol.asyncIterator]();
  const pending: Promise<ImageRef>[] = [];
  let next = iterator.next();
  let ended = false;
  while (!ended || pending.length > 0) {
    if (ended || pending.length >= STAT_AHEAD) {
      yield await pending.shift()!;
      continue;
    }
    const first = pending.length > 0 ? await Promise.race([next, pending[0]!.then(() => 'stat' as const)]) : await next;
    if (first === 'stat') {
      yield await pending.shift()!;
    } else if (first.done) {
      ended = true;
    } else {
      pending.push(refFromEntry(first.value.key, first.value.file, followSymlinks));
      next = iterator.next();
    }
  }
}

/**
 * Lines without their endings (CRLF, LF), and nothing else removed: a path is the whole line, and
 * a name may begin or end with spaces. Only a byte-order mark (Notepad) before the first line goes.
 */
async function* lines(stream: NodeJS.ReadableStream): AsyncGenerator<[string, number]> {
  let number = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
    number += 1;
    yield [number === 1 && line.startsWith('\uFEFF') ? line.slice(1) : line, number];
  }
}

/** A line of only spaces is taken for an empty one (a name of only spaces is not worth the surprise). */
function isBlank(line: string): boolean {
  return line.trim() === '';
}

function manifestKey(written: string, id: string | number | undefined): string {
  return id !== undefined && String(id).trim() !== '' ? String(id).trim() : toKey(written);
}

async function* manifestEntries(spec: Extract<InputSpec, { kind: 'manifest' }>, options: ScanOptions): AsyncGenerator<Entry> {
  const folder = path.dirname(spec.path);
  const entry = (written: string, id?: string | number): Entry => ({ key: manifestKey(written, id), file: path.resolve(folder, written) });
  if (spec.format === 'csv') {
    const records = csvRecords(spec.path, (line, message) => options.onProblem({ source: spec.raw, line, message }));
    for await (const { fields, line } of records) {
      const written = fields.path ?? '';
      if (isBlank(written)) options.onProblem({ source: spec.raw, line, message: 'empty path' });
      else yield entry(written, fields.id);
    }
    return;
  }
  for await (const [text, line] of lines(createReadStream(spec.path))) {
    if (isBlank(text)) continue;
    if (spec.format === 'txt') {
      if (!text.trimStart().startsWith('#')) yield entry(text);
      continue;
    }
    let record: unknown;
    try {
      record = JSON.parse(text);
    } catch {
      options.onProblem({ source: spec.raw, line, message: 'not valid JSON' });
      continue;
    }
    const fields = record as { path?: unknown; id?: unknown };
    if (typeof fields?.path !== 'string' || isBlank(fields.path)) {
      options.onProblem({ source: spec.raw, line, message: 'expected {"path": "...", "id": "..."} with a non-empty path' });
      continue;
    }
    // Anything else would become a key like "[object Object]", shared by every such line.
    const id = fields.id ?? undefined;
    if (id !== undefined && typeof id !== 'string' && !(typeof id === 'number' && Number.isFinite(id))) {
      options.onProblem({ source: spec.raw, line, message: `"id" must be a string or a number, not ${typeof id === 'number' ? id : JSON.stringify(id)}` });
      continue;
    }
    yield entry(fields.path, id);
  }
}

async function* stdinEntries(options: ScanOptions): AsyncGenerator<Entry> {
  for await (const [text] of lines(options.stdin)) {
    if (!isBlank(text)) yield { key: toKey(text), file: path.resolve(text) };
  }
}

/**
 * Files under a folder, keyed by their path relative to it. The stat is synchronous: the walk has
 * just read the folder, and an async stat costs four times the CPU on the main thread, which the
 * workers need.
 */
async function* folderRefs(base: string, include: (relative: string) => boolean, options: ScanOptions): AsyncGenerator<ImageRef> {
  const found = walk(base, {
    followSymlinks: options.followSymlinks,
    skipFolder: options.outDir,
    include,
    onUnreadable: (folder, error) => options.onProblem({ source: folder, message: `folder skipped: ${error.code ?? error.message}` }),
  });
  for await (const entry of found) {
    if (entry.undecodableName !== undefined) {
      const message = `its name is not valid UTF-8 (${entry.undecodableName}), and imgpipe keeps paths as UTF-8 text: rename it in UTF-8 (convmv does)`;
      yield { key: entry.relative, path: entry.path, size: null, mtimeMs: null, problem: { code: 'E_READ', message } };
      continue;
    }
    try {
      const stats = statSync(entry.path);
      yield { key: entry.relative, path: entry.path, size: stats.size, mtimeMs: stats.mtimeMs };
    } catch (error) {
      yield { key: entry.relative, path: entry.path, size: null, mtimeMs: null, problem: statProblem(error as NodeJS.ErrnoException) };
    }
  }
}

export async function* scanInputs(specs: readonly InputSpec[], options: ScanOptions): AsyncGenerator<ImageRef> {
  for (const spec of specs) {
    switch (spec.kind) {
      case 'directory':
        yield* folderRefs(spec.path, (relative) => IMAGE_NAME.test(relative), options);
        break;
      case 'glob':
        yield* folderRefs(spec.base, spec.match, options);
        break;
      case 'file':
        // Named on the command line: followed even when it is a symlink, as the user asked for it.
        yield* statInOrder(single({ key: toKey(path.basename(spec.path)), file: spec.path }), true);
        break;
      case 'manifest':
        yield* statInOrder(manifestEntries(spec, options), options.followSymlinks);
        break;
      case 'stdin':
        yield* statInOrder(stdinEntries(options), options.followSymlinks);
        break;
    }
  }
}

async function* single(entry: Entry): AsyncGenerator<Entry> {
  yield entry;
}
