/**
 * A built-in model damaged in place (same size, other bytes) is found before any work, by
 * `imgpipe models` and by `models verify`; a run is stopped by exactly the models its tasks load
 * with its options. The damage is done in a scratch install, never in node_modules: a copy of the
 * built program whose node_modules links every real package except the one damaged file, which is
 * a real copy.
 */
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, realpathSync, statSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, query, ROOT, scratch, sha256File } from './helpers.js';

/** `into`: links to each entry of `from`, except the one on `damaged`'s path, made of real folders down to a real copy. */
function linkTree(from: string, into: string, damaged: string[]): void {
  mkdirSync(into, { recursive: true });
  for (const entry of readdirSync(from)) {
    const source = path.join(from, entry);
    const target = path.join(into, entry);
    if (entry !== damaged[0]) symlinkSync(source, target);
    else if (damaged.length === 1) copyFileSync(source, target);
    else linkTree(source, target, damaged.slice(1));
  }
}

/** The scratch install's imgpipe: its own dist/, so that node_modules is looked up beside it. */
function imgpipe(app: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(app, 'bin', 'imgpipe.js'), ...args], { cwd: app, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * A scratch install whose file at `damaged` (a path under node_modules) has four bytes overwritten
 * in the middle, as QA did: the size stays right, only the sha256 tells.
 */
function damagedInstall(damaged: string[]): { app: string; file: string } {
  const app = path.join(scratch('imgpipe-damaged-'), 'app');
  const file = path.join(app, 'node_modules', ...damaged);
  for (const part of ['bin', 'dist', 'models', 'package.json']) cpSync(path.join(ROOT, part), path.join(app, part), { recursive: true });
  linkTree(realpathSync(path.join(ROOT, 'node_modules')), path.join(app, 'node_modules'), damaged);
  const before = sha256File(file);
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, Math.floor(size / 2));
  closeSync(fd);
  expect(statSync(file).size).toBe(size);
  expect(sha256File(file)).not.toBe(before);
  return { app, file };
}

/** A run that must stop before any work: exit 2, the message, and neither ledger nor --out made. */
async function refused(app: string, args: string[]): Promise<string> {
  const db = path.join(app, 'refused.db');
  const out = path.join(app, 'refused-out');
  const run = await imgpipe(app, ['run', ...args, '--db', db, '--out', out]);
  expect(run.code, run.stderr).toBe(2);
  expect(existsSync(db)).toBe(false);
  expect(existsSync(out)).toBe(false);
  return run.stderr.trim();
}

/** A face photo of three people (the face-api demo's sample1, MIT). */
const PEOPLE = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

/** Runs faces on PEOPLE in `app` with `--faces-model model`; returns the faces result. */
async function facesRun(app: string, model: string): Promise<{ count: number; model: string }> {
  const db = path.join(app, `${model}.db`);
  const run = await imgpipe(app, ['run', PEOPLE, '--tasks', 'faces', '--faces-model', model, '--db', db, '--out', path.join(app, 'out'), '--quiet']);
  expect(run.code, run.stderr).toBe(0);
  const [row] = query<{ result: string }>(db, "SELECT result FROM jobs WHERE task = 'faces' AND state = 'done'");
  return JSON.parse(row!.result);
}

describe('a damaged built-in model', () => {
  let app = '';

  beforeAll(() => {
    app = damagedInstall(['@vladmandic', 'human', 'models', 'centernet.bin']).app;
  });

  it('stops a run that needs it before any work (exit 2), with the command that mends it', async () => {
    const db = path.join(app, 'l.db');
    const run = await imgpipe(app, ['run', path.join(FIXTURES, 'photos'), '--tasks', 'objects', '--db', db, '--out', path.join(app, 'out')]);
    expect(run.code, run.stderr).toBe(2);
    // npm install alone would leave the damaged file: the package's version is the one asked for.
    const folder = path.join(app, 'node_modules', '@vladmandic', 'human');
    expect(run.stderr.trim()).toBe(
      `imgpipe: error: task 'objects' needs model human-centernet, which is damaged (models/centernet.bin: sha256 differs from the catalogue); reinstall it with: rm -rf ${folder} && npm install @vladmandic/human@3.3.6`,
    );
    expect(existsSync(db)).toBe(false);
    expect(existsSync(path.join(app, 'out'))).toBe(false);
  });

  it('is "installed: no" in imgpipe models, and FAIL in models verify (exit 1); the same package\'s other model is fine', async () => {
    const models = await imgpipe(app, ['models', '--json']);
    expect(models.code, models.stderr).toBe(0);
    const rows = JSON.parse(models.stdout) as { id: string; installed: boolean; problems: string[] }[];
    expect(rows.find((m) => m.id === 'human-centernet')).toMatchObject({ installed: false, problems: ['models/centernet.bin: sha256 differs from the catalogue'] });
    expect(rows.find((m) => m.id === 'human-blazeface-back')).toMatchObject({ installed: true, problems: [] });
    const verify = await imgpipe(app, ['models', 'verify']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/^FAIL human-centernet: models\/centernet\.bin: sha256 differs from the catalogue \(fix: rm -rf .*\/@vladmandic\/human && npm install @vladmandic\/human@3\.3\.6\)$/m);
    expect(verify.stdout).toMatch(/^ok +human-blazeface-back$/m);
  });
});

describe('damaged OCR language data', () => {
  let app = '';

  beforeAll(() => {
    app = damagedInstall(['@tesseract.js-data', 'eng', '4.0.0_best_int', 'eng.traineddata.gz']).app;
  });

  it('stops an ocr run (the default --ocr-lang eng) before any work, naming the file and the command that mends it', async () => {
    const folder = path.join(app, 'node_modules', '@tesseract.js-data', 'eng');
    const expected = `imgpipe: error: task 'ocr' needs model tesseract-eng-best-int, which is damaged (4.0.0_best_int/eng.traineddata.gz: sha256 differs from the catalogue); reinstall it with: rm -rf ${folder} && npm install @tesseract.js-data/eng@1.0.0`;
    expect(await refused(app, [path.join(FIXTURES, 'documents', 'page.png'), '--tasks', 'ocr'])).toBe(expected);
    // Beside other tasks whose models are intact, with the language named: the same.
    expect(await refused(app, [path.join(FIXTURES, 'documents', 'page.png'), '--tasks', 'labels,ocr', '--ocr-lang', 'eng'])).toBe(expected);
  });

  it('is FAIL in models verify (exit 1), with its package and the fix', async () => {
    const verify = await imgpipe(app, ['models', 'verify']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/^FAIL tesseract-eng-best-int: 4\.0\.0_best_int\/eng\.traineddata\.gz: sha256 differs from the catalogue \(fix: rm -rf .*\/@tesseract\.js-data\/eng && npm install @tesseract\.js-data\/eng@1\.0\.0\)$/m);
    const rows = JSON.parse((await imgpipe(app, ['models', '--json'])).stdout) as { id: string; tasks: string[]; package: string; licence: string; installed: boolean }[];
    expect(rows.find((m) => m.id === 'tesseract-eng-best-int')).toMatchObject({ tasks: ['ocr'], package: '@tesseract.js-data/eng@1.0.0', licence: expect.stringMatching(/Apache-2\.0/), installed: false });
  });
});

describe('a damaged face detector stops only the runs whose --faces-model loads it', () => {
  it('fast (BlazeFace) damaged: an accurate run works and finds the faces; a fast run, or anonymize with fast, stops', async () => {
    const { app } = damagedInstall(['@vladmandic', 'human', 'models', 'blazeface.bin']);
    const faces = await facesRun(app, 'accurate');
    expect(faces).toMatchObject({ model: 'accurate', count: 3 });
    const folder = path.join(app, 'node_modules', '@vladmandic', 'human');
    const expected = `imgpipe: error: task 'faces' needs model human-blazeface-back, which is damaged (models/blazeface.bin: sha256 differs from the catalogue); reinstall it with: rm -rf ${folder} && npm install @vladmandic/human@3.3.6`;
    expect(await refused(app, [PEOPLE, '--tasks', 'faces', '--faces-model', 'fast'])).toBe(expected);
    expect(await refused(app, [PEOPLE, '--tasks', 'anonymize', '--faces-model', 'fast'])).toBe(expected);
  });

  it('accurate (SSD MobileNet) damaged: the default run and anonymize stop; a fast run works and finds the faces', async () => {
    const { app } = damagedInstall(['@vladmandic', 'face-api', 'model', 'ssd_mobilenetv1_model.bin']);
    const folder = path.join(app, 'node_modules', '@vladmandic', 'face-api');
    const expected = `imgpipe: error: task 'faces' needs model face-api-ssd-mobilenetv1, which is damaged (model/ssd_mobilenetv1_model.bin: sha256 differs from the catalogue); reinstall it with: rm -rf ${folder} && npm install @vladmandic/face-api@1.7.15`;
    expect(await refused(app, [PEOPLE, '--tasks', 'faces'])).toBe(expected);
    expect(await refused(app, [PEOPLE, '--tasks', 'anonymize'])).toBe(expected);
    expect(await refused(app, [PEOPLE, '--tasks', 'faces', '--faces-model', 'accurate'])).toBe(expected);
    const faces = await facesRun(app, 'fast');
    expect(faces).toMatchObject({ model: 'fast', count: 3 });
    // models verify checks every model, whatever a run would choose.
    const verify = await imgpipe(app, ['models', 'verify']);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/^FAIL face-api-ssd-mobilenetv1: /m);
    expect(verify.stdout).toMatch(/^ok +human-blazeface-back$/m);
  });
});
