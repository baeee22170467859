/** Shared by the end-to-end tests: run the built CLI, make scratch folders and images. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const BIN = path.join(ROOT, 'bin', 'imgpipe.js');
export const FIXTURES = path.join(ROOT, 'fixtures');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `uid`, `gid`: run as another user (the test runs as root), to see what permissions deny. */
interface CliOptions {
  cwd?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  keepStdinOpen?: boolean;
  uid?: number;
  gid?: number;
}

export function startCli(args: string[], options: CliOptions = {}): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  if (!options.keepStdinOpen) child.stdin!.end(options.input ?? '');
  return child;
}

export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

export function cli(args: string[], options: Omit<CliOptions, 'keepStdinOpen'> = {}): Promise<CliResult> {
  return collect(startCli(args, options));
}

export function scratch(prefix = 'imgpipe-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** JSON-lines events of a `--json` run. */
export function events(stdout: string): Record<string, any>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, any>);
}

export function summaryOf(stdout: string): Record<string, any> {
  const summary = events(stdout).find((event) => event.event === 'summary');
  if (!summary) throw new Error(`no summary event in:\n${stdout}`);
  return summary;
}

export function query<T = Record<string, any>>(db: string, sql: string, ...params: unknown[]): T[] {
  const connection = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return connection.prepare(sql).all(...params) as T[];
  } finally {
    connection.close();
  }
}

/** `count` small distinct JPEGs (seeded colours and a diagonal bar) in `dir`, in subfolders of 100. */
export async function makeImages(dir: string, count: number, size: [number, number] = [160, 120]): Promise<string[]> {
  const files: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const sub = path.join(dir, `batch-${String(Math.floor(i / 100)).padStart(2, '0')}`);
    mkdirSync(sub, { recursive: true });
    const file = path.join(sub, `img-${String(i).padStart(4, '0')}.jpg`);
    const [w, h] = size;
    const bar = `<svg width="${w}" height="${h}"><rect x="${(i * 7) % w}" y="0" width="${8 + (i % 13)}" height="${h}" fill="rgb(${(i * 53) % 256},${(i * 97) % 256},${(i * 31) % 256})"/></svg>`;
    await sharp({ create: { width: w, height: h, channels: 3, background: { r: (i * 37) % 256, g: (i * 11) % 256, b: (i * 71) % 256 } } })
      .composite([{ input: Buffer.from(bar) }])
      .jpeg({ quality: 80 })
      .toFile(file);
    files.push(file);
  }
  return files;
}

/** Results in a ledger, keyed `key|task`, with what must not differ between equivalent runs. */
export function resultsOf(db: string): Map<string, { state: string; result: string | null; errorCode: string | null }> {
  const rows = query<{ key: string; task: string; state: string; result: string | null; error_code: string | null }>(
    db,
    'SELECT i.key, j.task, j.state, j.result, j.error_code FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.key, j.task',
  );
  return new Map(rows.map((row) => [`${row.key}|${row.task}`, { state: row.state, result: row.result, errorCode: row.error_code }]));
}

/** The parsed results of a task's done jobs, by image key. */
export function taskResults(db: string, task: string): Map<string, any> {
  const rows = query<{ key: string; result: string }>(db, `SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = ? AND j.state = 'done'`, task);
  return new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Jobs done in a ledger; 0 while the ledger is not there yet or not yet migrated. */
export function doneCount(db: string): number {
  try {
    return query<{ n: number }>(db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")[0]!.n;
  } catch {
    return 0;
  }
}

/** Polls a running command's ledger until `count` jobs are done or 30 s pass; returns the count reached. */
export async function waitForDone(db: string, count = 1, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (doneCount(db) < count && Date.now() < deadline) await sleep(50);
  return doneCount(db);
}
