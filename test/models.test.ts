/**
 * A built-in model damaged in place (same size, other bytes) is found before any work, by
 * `imgpipe models` and by `models verify`. The damage is done in a scratch install, never in
 * node_modules: a copy of the built program whose node_modules links every real package except
 * the one damaged file, which is a real copy.
 */
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, realpathSync, statSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, scratch, sha256File } from './helpers.js';

const DAMAGED = ['@vladmandic', 'human', 'models', 'centernet.bin'];

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

describe('a damaged built-in model', () => {
  const app = path.join(scratch('imgpipe-damaged-'), 'app');
  const file = path.join(app, 'node_modules', ...DAMAGED);

  beforeAll(() => {
    for (const part of ['bin', 'dist', 'models', 'package.json']) cpSync(path.join(ROOT, part), path.join(app, part), { recursive: true });
    linkTree(realpathSync(path.join(ROOT, 'node_modules')), path.join(app, 'node_modules'), DAMAGED);
    const before = sha256File(file);
    // Four bytes overwritten in the middle, as QA did: the size stays right.
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, 2_000_000);
    closeSync(fd);
    expect(statSync(file).size).toBe(statSync(path.join(ROOT, 'node_modules', ...DAMAGED)).size);
    expect(sha256File(file)).not.toBe(before);
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
