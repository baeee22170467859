/**
 * Inputs -> a stream of ImageRefs: directories (recursive), single files, globs, manifests
 * (.txt, .jsonl, .csv) and `-` for paths on stdin. Everything streams: a manifest of a
 * million lines is never held in memory, and the consumer pulls at its own pace.
 */
import picomatch from 'picomatch';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { createReadStream, openSync, readSync, closeSync, realpathSync, statSync, type Stats } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { messageOf, UsageError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { parsePath } from '../validate.js';
import { fileIdentity } from './file-identity.js';
import { CSV_OPTIONS, csvRecords } from './manifest-csv.js';
import type { ImageRef } from './types.js';
import { escapedName, walk } from './walk.js';

/** What a folder or glob scan takes for an image (case-insensitively); run's help lists them. */
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
    throw unreadableManifest(raw, error);
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

/** The same usage error whether the manifest fails at the start-up check or later, while it is read. */
function unreadableManifest(raw: string, error: unknown): UsageError {
  return new UsageError(`cannot read manifest ${raw}: ${messageOf(error)}`);
}

/** The run's --out as written, and the folders its tasks write artefacts to there (OUT/<task>). */
export interface OutFolder {
  path: string;
  tasks: readonly string[];
}

/**
 * Checks every input before any work, so that a typo exits 2 instead of half a run. A folder
 * input that is --out, or lies inside one of the run's artefact folders, is refused.
 */
export function classifyInputs(inputs: readonly string[], cwd: string, out?: OutFolder): InputSpec[] {
  if (inputs.length === 0) throw new UsageError('no inputs: give directories, files, globs, manifests or - (see imgpipe run --help)');
  if (inputs.filter((input) => input === '-').length > 1) throw new UsageError('input - (stdin) given more than once');
  const outId = out === undefined ? undefined : fileIdentity(path.resolve(cwd, out.path));
  const refuseOut = (raw: string, folder: string, verb: 'is' | 'searches'): void => {
    if (outId !== undefined) refuseFolderInOut(raw, folder, verb, out!, outId);
  };
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
    if (stats?.isDirectory()) {
      refuseOut(raw, absolute, 'is');
      return { kind: 'directory', raw, path: absolute };
    }
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
    refuseOut(raw, base, 'searches');
    const matches = picomatch(glob.glob, { nocase: true });
    return { kind: 'glob', raw, base, match: (relative) => matches(relative) && IMAGE_NAME.test(relative) };
  });
}

/**
 * A folder input that is --out, or lies inside one of the run's artefact folders (OUT/<task>),
 * would read the run's own artefacts back as images, and a task that writes them would nest them
 * one level deeper on every run (`OUT/preprocess/preprocess/...`). The walk skips --out below its
 * root, but a root is scanned as given, so such an input is refused here. Another folder inside
 * --out (`imgpipe run data/photos --out data`) is allowed: its scan cannot reach OUT/<task>.
 * Told by identity (device and inode) along the folder's real path, as the walk does, so that
 * `..`, links and bind mounts are caught. A single file named explicitly stays allowed, as in the
 * walk.
 */
function refuseFolderInOut(raw: string, folder: string, verb: 'is' | 'searches', out: OutFolder, outId: string): void {
  let current: string;
  try {
    current = realpathSync(folder);
  } catch {
    current = folder;
  }
  // The name of the folder directly under `current` on the way up: under --out, the task it holds.
  let below: string | undefined;
  for (let depth = 0; ; depth += 1) {
    if (fileIdentity(current) === outId) {
      if (below === undefined) throw new UsageError(`input ${raw} ${verb} the --out folder ${out.path}: the run would take its own artefacts for images; choose another --out`);
      if (out.tasks.includes(below)) {
        const where = `${depth === 1 ? '' : 'a folder inside '}${path.join(out.path, below)}`;
        throw new UsageError(`input ${raw} ${verb} ${where}, where this run writes ${below}'s artefacts: the run would take them for images; choose another --out`);
      }
      return;
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    below = path.basename(current);
    current = parent;
  }
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
async function refFromEntry({ key, file, raw }: Entry, followSymlinks: boolean): Promise<ImageRef> {
  if (raw) return undecodableEntry(key, file, raw);
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

/**
 * A path whose bytes are not UTF-8: reported as the folder walk reports such a name (paths travel
 * as UTF-8 text, where it would open nothing), E_READ with its bytes shown and the advice to
 * rename it when the file exists, E_NOT_FOUND when it does not.
 */
async function undecodableEntry(key: string, file: string, raw: NonNullable<Entry['raw']>): Promise<ImageRef> {
  const name = escapedName(raw.written);
  const exists = await lstat(raw.resolved).then(
    () => true,
    () => false,
  );
  const problem: { code: ErrorCode; message: string } = exists
    ? { code: 'E_READ', message: undecodableMessage(name) }
    : { code: 'E_NOT_FOUND', message: `no such file (its name is not valid UTF-8: ${name})` };
  return { key, path: file, size: null, mtimeMs: null, problem };
}

function undecodableMessage(name: string): string {
  return `its name is not valid UTF-8 (${name}), and imgpipe keeps paths as UTF-8 text: rename it in UTF-8 (convmv does)`;
}

interface Entry {
  key: string;
  file: string;
  /** The path's bytes as written and resolved, when they are not UTF-8 (then `file`, as text, names no file). */
  raw?: { written: Buffer; resolved: Buffer };
}

/** A line's bytes as a path, resolved against `folder` as `path.resolve` does text. */
function rawPath(folder: string, line: Buffer): Entry['raw'] {
  return { written: line, resolved: line[0] === 0x2f ? line : Buffer.concat([Buffer.from(`${folder}${path.sep}`), line]) };
}

/**
 * Stats up to STAT_AHEAD entries at once, yielding in input order: parallel enough to hide
 * latency, bounded in memory, and never waiting on a slow source while a stat is ready.
 */
async function* statInOrder(entries: AsyncIterable<Entry>, followSymlinks: boolean): AsyncGenerator<ImageRef> {
  const iterator = entries[Symbol.asyncIterator]();
  const pending: Promise<ImageRef>[] = [];
  // The entries may fail (a manifest that cannot be read) while stats are being yielded, before
  // `next` is awaited: marked handled at once, it still rejects where it is awaited, rather than
  // as an unhandled rejection that ends the process as an internal error.
  const ask = (): Promise<IteratorResult<Entry>> => {
    const promise = iterator.next();
    promise.catch(() => undefined);
    return promise;
  };
  let next = ask();
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
      pending.push(refFromEntry(first.value, followSymlinks));
      next = ask();
    }
  }
}

/**
 * Lines without their endings (CRLF, LF), and nothing else removed: a path is the whole line, and
 * a name may begin or end with spaces. Only a byte-order mark (Notepad) before the first line goes.
 *
 * Read as Latin-1, one character a byte, then decoded as UTF-8 here: a line that is not UTF-8 (a
 * Latin-1 name from an old camera or a Windows share) keeps its bytes, `raw`, where decoding
 * would have put U+FFFD in the name and sent every such file to E_NOT_FOUND.
 */
async function* lines(stream: NodeJS.ReadableStream): AsyncGenerator<{ text: string; line: number; raw?: Buffer }> {
  stream.setEncoding('latin1');
  let line = 0;
  for await (const bytes of createInterface({ input: stream, crlfDelay: Infinity })) {
    line += 1;
    const raw = Buffer.from(bytes, 'latin1');
    const decoded = raw.toString('utf8');
    const bom = line === 1 && decoded.startsWith('\uFEFF');
    const text = bom ? decoded.slice(1) : decoded;
    if (!decoded.includes('\uFFFD') || Buffer.from(decoded, 'utf8').equals(raw)) yield { text, line };
    else yield { text, line, raw: bom ? raw.subarray(3) : raw };
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
    for await (const { fields, undecodable, line } of readingManifest(spec.raw, records)) {
      const written = fields.path ?? '';
      if (isBlank(written)) options.onProblem({ source: spec.raw, line, message: 'empty path' });
      else yield { ...entry(written, fields.id), ...(undecodable.path ? { raw: rawPath(folder, undecodable.path) } : {}) };
    }
    return;
  }
  for await (const { text, line, raw } of readingManifest(spec.raw, lines(createReadStream(spec.path)))) {
    if (isBlank(text)) continue;
    if (spec.format === 'txt') {
      if (!text.trimStart().startsWith('#')) yield { ...entry(text), ...(raw ? { raw: rawPath(folder, raw) } : {}) };
      continue;
    }
    if (raw) {
      // JSON is UTF-8 text: no escape names these bytes, so the line cannot name the file it means.
      options.onProblem({ source: spec.raw, line, message: `not valid UTF-8 (${escapedName(raw)}): JSON lines name files in UTF-8; rename the file in UTF-8 (convmv does), or list it in a .txt manifest` });
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

/**
 * A manifest checked at start-up can still fail as it is read: deleted or replaced in between, or
 * an I/O error half-way. That stops the run with the start-up check's usage error (exit 2, one
 * line naming the manifest and the reason): the rest of the list is unknown, so carrying on would
 * end a run as complete that left part of it out. Only errors of the reading are converted.
 */
async function* readingManifest<T>(raw: string, source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      let item: IteratorResult<T>;
      try {
        item = await iterator.next();
      } catch (error) {
        throw unreadableManifest(raw, error);
      }
      if (item.done) return;
      yield item.value;
    }
  } finally {
    await iterator.return?.();
  }
}

async function* stdinEntries(options: ScanOptions): AsyncGenerator<Entry> {
  for await (const { text, raw } of lines(options.stdin)) {
    if (!isBlank(text)) yield { key: toKey(text), file: path.resolve(text), ...(raw ? { raw: rawPath(process.cwd(), raw) } : {}) };
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
    onUnreadable: (folder, error) => options.onProblem({ source: folder, message: `unreadable folder: ${error.code ?? error.message}` }),
  });
  for await (const entry of found) {
    if (entry.undecodableName !== undefined) {
      yield { key: entry.relative, path: entry.path, size: null, mtimeMs: null, problem: { code: 'E_READ', message: undecodableMessage(entry.undecodableName) } };
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
