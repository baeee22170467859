/** The nsfw task with the real MobileNetV2 on real pixels; the model catalogue; --fail-on. */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, FIXTURES, query, ROOT, scratch, summaryOf } from './helpers.js';

// Real photos of people, shipped by an npm package (MIT): the face-api demo pictures.
const SAMPLES = path.join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo');

describe('nsfw', () => {
  const work = scratch();
  const input = path.join(work, 'in');
  const db = path.join(work, 'l.db');
  let results: Map<string, any>;

  beforeAll(async () => {
    mkdirSync(input);
    copyFileSync(path.join(SAMPLES, 'sample1.jpg'), path.join(input, 'people.jpg'));
    copyFileSync(path.join(FIXTURES, 'photos', 'landscape.jpg'), path.join(input, 'landscape.jpg'));
    copyFileSync(path.join(FIXTURES, 'colours', 'red-blue.png'), path.join(input, 'flat-drawing.png'));
    const run = await cli(['run', input, '--tasks', 'nsfw', '--db', db, '--out', path.join(work, 'out'), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const rows = query<{ key: string; result: string }>(db, "SELECT i.key, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'nsfw'");
    results = new Map(rows.map((row) => [row.key, JSON.parse(row.result)]));
  });

  it('does not flag a neutral photo of people, classes a flat picture as a drawing, and its probabilities sum to 1', () => {
    const people = results.get('people.jpg');
    expect(people).toMatchObject({ top: 'neutral', verdict: 'safe', flagged: false });
    expect(people.classes.neutral).toBeGreaterThan(0.8);
    expect(results.get('landscape.jpg')).toMatchObject({ verdict: 'safe', flagged: false });
    const drawing = results.get('flat-drawing.png');
    expect(drawing.top).toBe('drawing');
    expect(drawing.classes.drawing).toBeGreaterThan(0.8);
    for (const result of results.values()) {
      const sum = Object.values(result.classes as Record<string, number>).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 1);
      expect(result.unsafe).toBeCloseTo(result.classes.porn + result.classes.hentai + result.classes.sexy, 2);
    }
  });

  it('--timeout nsfw=1 bounds the work on each image, not the model\'s load: on one worker every image is done, as without it', async () => {
    // The model's load and first inference take about 2 s on 2 busy cores, a warm job 0.1-0.2 s:
    // counted in the limit, the load failed every job, each try on a new worker loading again.
    const tight = path.join(work, 'tight.db');
    const run = await cli(['run', input, '--tasks', 'nsfw', '--concurrency', 'nsfw=1', '--timeout', 'nsfw=1', '--db', tight, '--out', path.join(work, 'out'), '--json']);
    expect(run.code, run.stderr).toBe(0);
    const rows = query<{ key: string; state: string; attempts: number; result: string }>(tight, "SELECT i.key, j.state, j.attempts, j.result FROM jobs j JOIN images i ON i.id = j.image_id WHERE j.task = 'nsfw'");
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row, row.key).toMatchObject({ state: 'done', attempts: 1 });
      expect(JSON.parse(row.result), row.key).toEqual(results.get(row.key));
    }
  });

  it('--fail-on nsfw exits 3 only when an image is flagged', async () => {
    const args = ['run', input, '--tasks', 'nsfw', '--db', db, '--out', path.join(work, 'out'), '--fail-on', 'nsfw'];
    const calm = await cli([...args, '--json']);
    expect(calm.code).toBe(0);
    expect(summaryOf(calm.stdout).flagged).toEqual({ nsfw: 0 });
    // A threshold below every image's unsafe score flags them all (the results are recomputed: new options).
    const strict = await cli([...args, '--nsfw-threshold', '0.0001']);
    expect(strict.code).toBe(3);
    expect(strict.stdout).toMatch(/3 images flagged by nsfw \(--fail-on nsfw: exit 3\)/);
    const wrong = await cli([...args.slice(0, -2), '--fail-on', 'meta', '--tasks', 'nsfw,meta']);
    expect([wrong.code, wrong.stderr]).toEqual([2, expect.stringMatching(/--fail-on: task 'meta' does not flag images \(tasks that do: nsfw\)/)]);
  });
});

describe('model catalogue', () => {
  it('lists every model with task, size, licence and installed state, and verifies hashes', async () => {
    const models = JSON.parse((await cli(['models', '--json'])).stdout) as { id: string; tasks: string[]; licence: string; installed: boolean; bytes: number }[];
    expect(models.find((m) => m.id === 'nsfwjs-mobilenet-v2')).toMatchObject({ tasks: ['nsfw', 'embed', 'labels'], licence: 'MIT', installed: true, bytes: 3600073 });
    const verify = await cli(['models', 'verify']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^ok +nsfwjs-mobilenet-v2$/m);
  });

  it('a missing model stops the run before any work, naming the package to install', async () => {
    const { checkModels } = await import('../src/tasks/registry.js');
    const task = { name: 'ghost', version: 1, description: '', needs: [], concurrency: 1, threadsPerJob: 1, timeoutSeconds: 1, options: {}, worker: new URL('file:///none'), models: ['nsfwjs-mobilenet-v2'] } as const;
    expect(() => checkModels([{ meta: task, options: {} }])).not.toThrow();
    expect(() => checkModels([{ meta: { ...task, models: ['no-such-model'] }, options: {} }])).toThrow(/needs model 'no-such-model', which is not in models\/catalog.json/);
    // Models chosen by options: only what these options choose is checked.
    const choosing = { ...task, models: (options: Record<string, unknown>) => (options.model === 'ghost' ? ['no-such-model'] : ['nsfwjs-mobilenet-v2']) };
    expect(() => checkModels([{ meta: choosing, options: { model: 'real' } }])).not.toThrow();
    expect(() => checkModels([{ meta: choosing, options: { model: 'ghost' } }])).toThrow(/needs model 'no-such-model'/);
    const { modelStatus } = await import('../src/runtime/models.js');
    const altered = modelStatus({ id: 'x', tasks: [], description: '', package: 'nsfwjs', version: '4.4.0', format: 'tfjs-layers', licence: 'MIT', upstream: '', input: '', files: [{ path: 'dist/models/mobilenet_v2/model.min.js', bytes: 1, sha256: '' }] });
    expect(altered).toMatchObject({ installed: true, problems: ['dist/models/mobilenet_v2/model.min.js has 106679 bytes, expected 1'] });
    expect(modelStatus({ id: 'y', tasks: [], description: '', package: 'no-such-package-here', version: '1.0.0', format: 'onnx', licence: '', upstream: '', input: '', files: [] })).toEqual({
      installed: false,
      reason: 'npm package no-such-package-here is not installed',
    });
  });
});
