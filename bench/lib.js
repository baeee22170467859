/**
 * Helpers shared by the benchmark harness and its suites: statistics, child processes,
 * machine description, progress lines and number formatting. Plain ESM, no build step.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { peerVersions } from './peers.js';

export const ROOT = new URL('..', import.meta.url);
export const ROOT_DIR = decodeURIComponent(ROOT.pathname).replace(/\/$/, '');

/** A progress line on stderr (stdout stays free for anything a caller pipes). */
export function log(message) {
  const time = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${time}] ${message}\n`);
}

/** Raised when a measured command fails: run.js prints it and exits non-zero. */
export class BenchFailure extends Error {}

// ---- statistics -----------------------------------------------------------------------------

/** { median, min, max, n, values } of a list of numbers (null when the list is empty). */
export function stats(values) {
  const clean = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (clean.length === 0) return null;
  const sorted = [...clean].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], n: sorted.length, values: clean };
}

// ---- child processes ----------------------------------------------------------------------------

/**
 * Spawns `node ...args` in the repository root and measures it from spawn to exit (stdio
 * closed). stdout is read line by line: JSON lines are handed to `onJson` (so that a run with
 * thousands of job events is never held in memory); other stdout lines and stderr are kept
 * as a bounded tail for error messages.
 */
export function runNode(args, { cwd = ROOT_DIR, env = process.env, onJson } = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const keep = (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
    };
    let jsonLines = 0;
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
      if (line.startsWith('{')) {
        let parsed;
        try {
          parsed = JSON.parse(line);
        } catch {
          keep(line);
          return;
        }
        jsonLines += 1;
        onJson?.(parsed);
      } else if (line.trim() !== '') keep(line);
    });
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', (line) => keep(line));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ code, signal, wallMs, jsonLines, tail: tail.join('\n') });
    });
  });
}

/**
 * Runs any program (a peer tool) under GNU time, spawn to exit: { code, wallMs, maxRssMb, tail }.
 * maxRssMb is the largest resident set of the process or of any descendant it waited for (under
 * `parallel`, the largest single job, not their sum); null when /usr/bin/time is missing.
 */
export function runCommand(command, args, { cwd = ROOT_DIR, env = process.env } = {}) {
  const timeFile = path.join(os.tmpdir(), `imgpipe-bench-time-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const timed = existsSync('/usr/bin/time');
  const [file, argv] = timed ? ['/usr/bin/time', ['-f', '%M', '-o', timeFile, command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(file, argv, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = [];
    const keep = (line) => {
      if (line.trim() === '') return;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    };
    createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', keep);
    createInterface({ input: child.stderr, crlfDelay: Infinity }).on('line', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      let maxRssMb = null;
      if (timed) {
        try {
          const kb = Number(readFileSync(timeFile, 'utf8').trim().split('\n').at(-1));
          if (Number.isFinite(kb)) maxRssMb = Math.round(kb / 1024);
        } catch {
          // No figure: reported as unknown.
        }
        rmSync(timeFile, { force: true });
      }
      resolve({ code, signal, wallMs, maxRssMb, tail: tail.join('\n') });
    });
  });
}

/** Throws a BenchFailure naming the command when a child did not exit 0. */
export function assertExitedCleanly(what, args, result) {
  if (result.code === 0) return;
  const how = result.signal ? `signal ${result.signal}` : `exit code ${result.code}`;
  throw new BenchFailure(`${what} failed (${how}): node ${args.join(' ')}\n${result.tail}`);
}

// ---- the machine ----------------------------------------------------------------------------------

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, ROOT), 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

function gitRevision() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit} + uncommitted changes in src/` : commit;
  } catch {
    return 'unknown';
  }
}

export function describeMachine() {
  const cpus = os.cpus();
  return {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    packages: {
      ...Object.fromEntries(['sharp', 'piscina', 'better-sqlite3', 'onnxruntime-node', 'tesseract.js', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@techstark/opencv-js'].map((name) => [name, packageVersion(name)])),
      libvips: sharp.versions.vips,
    },
    peers: peerVersions(),
    imgpipe: JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')).version,
    revision: gitRevision(),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

// ---- formatting ---------------------------------------------------------------------------------------

export function formatNumber(value, digits) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (digits === undefined) {
    const abs = Math.abs(value);
    digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  }
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median [min–max] unit" of a stats object, values scaled by `scale` (e.g. 1/1000 for ms to s). */
export function formatStats(s, { unit = '', scale = 1, digits } = {}) {
  if (!s) return '—';
  const f = (v) => formatNumber(v * scale, digits);
  const suffix = !unit ? '' : unit === '×' || unit === '%' ? unit : ` ${unit}`;
  return s.n > 1 ? `${f(s.median)}${suffix} [${f(s.min)}–${f(s.max)}]` : `${f(s.median)}${suffix}`;
}

export function markdownTable(header, rows) {
  const escape = (cell) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${header.map(escape).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

/**
 * One `imgpipe run ... --json`: images per second over its summary's `durationMs` (the run
 * itself, after Node start-up) and its peak RSS. Fails unless `done` jobs were done.
 */
export async function timeImgpipeRun(what, args, images, done = images) {
  let summary;
  const result = await runNode(args, { onJson: (event) => event.event === 'summary' && (summary = event) });
  assertExitedCleanly(what, args, result);
  if (summary?.jobs?.done !== done) throw new BenchFailure(`${what}: expected ${done} jobs done, got ${JSON.stringify(summary?.jobs)}: node ${args.join(' ')}`);
  return { imagesPerSecond: images / (summary.durationMs / 1000), maxRssMb: summary.maxRssMb };
}

/** One bench/bare-loop.js run: images per second and peak RSS from its summary. Fails unless all `images` were done. */
export async function timeBareLoop(args, images) {
  let summary;
  const result = await runNode(args, { onJson: (event) => event.event === 'bare-summary' && (summary = event) });
  assertExitedCleanly('bare loop', args, result);
  if (summary?.done !== images) throw new BenchFailure(`bare loop: expected ${images} jobs done, got ${summary?.done}: ${summary?.firstFailure}: node ${args.join(' ')}`);
  return { imagesPerSecond: summary.jobsPerSecond, steadyImagesPerSecond: summary.steadyJobsPerSecond, maxRssMb: summary.maxRssMb };
}

/**
 * imgpipe against its bare loop, `repeat` times, in swapped order every other repeat so that drift
 * on the machine hits both alike. Each sample is { imgpipe, bare, ratio }; `label` names the log lines.
 */
export async function pairedRepeats(label, repeat, measureImgpipe, measureBare) {
  const samples = [];
  for (let r = 1; r <= repeat; r++) {
    const steps = [measureImgpipe, measureBare];
    const measured = [];
    for (const i of r % 2 === 0 ? [1, 0] : [0, 1]) measured[i] = await steps[i]();
    const [imgpipe, bare] = measured;
    samples.push({ imgpipe, bare, ratio: imgpipe.imagesPerSecond / bare.imagesPerSecond });
    log(`${label}, repeat ${r}/${repeat}: imgpipe ${imgpipe.imagesPerSecond.toFixed(2)} images/s, bare ${bare.imagesPerSecond.toFixed(2)}, ratio ${samples.at(-1).ratio.toFixed(2)}`);
  }
  return samples;
}
