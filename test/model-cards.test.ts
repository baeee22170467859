/**
 * Models the user brings: tiny ONNX models built here, whose outputs are known exactly, run as
 * tasks from model cards. Every number imgpipe reports is checked against what the model
 * computes; cards with mistakes are refused at start-up with the field named.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, query, scratch, sha256File, summaryOf, taskResults as results } from './helpers.js';
import { writeOnnxModel } from './onnx-models.js';

const work = scratch('imgpipe-cards-');
const images = path.join(work, 'images');
const cards = path.join(work, 'cards');

function card(name: string, body: Record<string, unknown>): string {
  const file = path.join(cards, `${name}.json`);
  writeFileSync(file, JSON.stringify(body, null, 2));
  return file;
}

function softmax(values: number[]): number[] {
  const exps = values.map((v) => Math.exp(v - Math.max(...values)));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

beforeAll(async () => {
  mkdirSync(images, { recursive: true });
  mkdirSync(cards, { recursive: true });
  // A flat colour: every resize keeps it, so a model's mean-colour output is known exactly.
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(path.join(images, 'brown.png'));
  await sharp({ create: { width: 200, height: 100, channels: 3, background: '#ffffff' } }).png().toFile(path.join(images, 'white.png'));
  // Left half red, right half black.
  const half = Buffer.alloc(300 * 200 * 3);
  for (let y = 0; y < 200; y++) for (let x = 0; x < 150; x++) half[(y * 300 + x) * 3] = 255;
  await sharp(half, { raw: { width: 300, height: 200, channels: 3 } }).png().toFile(path.join(images, 'half.png'));

  // Classifier: logits = the mean of each channel, NCHW.
  writeOnnxModel(path.join(cards, 'mean.onnx'), {
    input: { name: 'pixels', shape: [1, 3, 16, 16] },
    outputs: [{ name: 'logits', shape: [1, 3] }],
    nodes: [{ op: 'ReduceMean', inputs: ['pixels'], outputs: ['logits'], ints: { axes: [2, 3] }, int: { keepdims: 0 } }],
  });
  // The same, NHWC, with a free batch dimension.
  writeOnnxModel(path.join(cards, 'mean-nhwc.onnx'), {
    input: { name: 'x', shape: ['batch', 16, 16, 3] },
    outputs: [{ name: 'y', shape: ['batch', 3] }],
    nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], ints: { axes: [1, 2] }, int: { keepdims: 0 } }],
  });
  // Detector, boxes + scores: fixed boxes, scores = a constant table times the image's mean.
  writeOnnxModel(path.join(cards, 'boxes.onnx'), {
    input: { name: 'image', shape: [1, 3, 64, 64] },
    outputs: [
      { name: 'boxes', shape: [1, 3, 4] },
      { name: 'scores', shape: [1, 3, 2] },
    ],
    nodes: [
      { op: 'Identity', inputs: ['B'], outputs: ['boxes'] },
      { op: 'ReduceMean', inputs: ['image'], outputs: ['m'], ints: { axes: [1, 2, 3] }, int: { keepdims: 1 } },
      { op: 'Reshape', inputs: ['m', 'shape'], outputs: ['m3'] },
      { op: 'Mul', inputs: ['m3', 'S'], outputs: ['scores'] },
    ],
    floats: {
      B: { dims: [1, 3, 4], values: [0.1, 0.2, 0.5, 0.6, 0.12, 0.22, 0.5, 0.6, 0.1, 0.2, 0.5, 0.6] },
      S: { dims: [1, 3, 2], values: [0.9, 0.1, 0.8, 0.1, 0.1, 0.7] },
    },
    int64s: { shape: [1, 1, 1] },
  });
  // Detector, YOLOv8 layout [1, 4 + classes, boxes], centre boxes in input pixels.
  writeOnnxModel(path.join(cards, 'yolo.onnx'), {
    input: { name: 'images', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'output0', shape: [1, 6, 2] }],
    nodes: [{ op: 'Identity', inputs: ['Y'], outputs: ['output0'] }],
    floats: { Y: { dims: [1, 6, 2], values: [16, 8, 16, 8, 8, 4, 16, 4, 0.2, 0.1, 0.95, 0.05] } },
  });
  // Segmenter: the foreground is the red channel.
  writeOnnxModel(path.join(cards, 'red.onnx'), {
    input: { name: 'x', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'mask', shape: [1, 1, 32, 32] }],
    nodes: [{ op: 'Slice', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['mask'] }],
    int64s: { starts: [0], ends: [1], axes: [1] },
  });
  // The classifier again with every dimension free: a wrong layout or label list shows only at inference.
  writeOnnxModel(path.join(cards, 'mean-free.onnx'), {
    input: { name: 'pixels', shape: ['batch', 'channels', 'height', 'width'] },
    outputs: [{ name: 'logits', shape: ['batch', 'classes'] }],
    nodes: [{ op: 'ReduceMean', inputs: ['pixels'], outputs: ['logits'], ints: { axes: [2, 3] }, int: { keepdims: 0 } }],
  });
  // A "YOLO" output whose sides follow the input's free size: [1,32,32] from a 32x32 input.
  writeOnnxModel(path.join(cards, 'yolo-free.onnx'), {
    input: { name: 'images', shape: ['batch', 3, 'height', 'width'] },
    outputs: [{ name: 'output0', shape: ['batch', 'height', 'width'] }],
    nodes: [{ op: 'ReduceMean', inputs: ['images'], outputs: ['output0'], ints: { axes: [1] }, int: { keepdims: 0 } }],
  });
  // Segmenter with a 3-class map: the pixels' own channels.
  writeOnnxModel(path.join(cards, 'rgb-classes.onnx'), {
    input: { name: 'x', shape: [1, 3, 32, 32] },
    outputs: [{ name: 'classes', shape: [1, 3, 32, 32] }],
    nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['classes'] }],
  });
  // A classifier that fails on every image: its free input size cannot be reshaped to [1,300].
  writeOnnxModel(path.join(cards, 'reshape.onnx'), {
    input: { name: 'x', shape: [1, 3, 'height', 'width'] },
    outputs: [{ name: 'logits', shape: [1, 300] }],
    nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['logits'] }],
    int64s: { shape: [1, 300] },
  });
  // Embedder: the mean colour as a 3-d vector.
  writeOnnxModel(path.join(cards, 'embed.onnx'), {
    input: { name: 'x', shape: [1, 3, 8, 8] },
    outputs: [{ name: 'v', shape: [1, 3] }],
    nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['v'], ints: { axes: [2, 3] }, int: { keepdims: 0 } }],
  });
});

const classifier = (extra: Record<string, unknown> = {}) => ({
  id: 'mean-colour',
  kind: 'classifier',
  model: 'mean.onnx',
  licence: 'MIT',
  input: { size: 16, layout: 'NCHW', colour: 'RGB', resize: 'stretch' },
  output: { activation: 'softmax', top: 3 },
  labels: ['red', 'green', 'blue'],
  ...extra,
});

describe('model cards', () => {
  it('runs a classifier and reports exactly what the model computes', async () => {
    const file = card('classifier', classifier());
    const db = path.join(work, 'classifier.db');
    const run = await cli(['run', images, '--model-card', file, '--tasks', 'mean-colour', '--db', db, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(summaryOf(run.stdout).jobs.done).toBe(3);
    const brown = results(db, 'mean-colour').get('brown.png');
    const expected = softmax([200 / 255, 100 / 255, 50 / 255]);
    expect(brown.top.label).toBe('red');
    expect(brown.classes.map((c: { label: string }) => c.label)).toEqual(['red', 'green', 'blue']);
    brown.classes.forEach((c: { index: number; score: number }) => expect(c.score).toBeCloseTo(expected[c.index]!, 3));

    // Resumable like any task: nothing left to do.
    const again = await cli(['run', images, '--model-card', file, '--tasks', 'mean-colour', '--db', db, '--json']);
    expect(again.code).toBe(0);
    expect(summaryOf(again.stdout).jobs).toMatchObject({ done: 0, alreadyDone: 3 });

    // Its options are flags; changing one redoes the jobs with the new value.
    const top1 = await cli(['run', images, '--model-card', file, '--tasks', 'mean-colour', '--mean-colour-top', '1', '--db', db, '--quiet']);
    expect(top1.code, top1.stderr).toBe(0);
    expect(results(db, 'mean-colour').get('brown.png').classes).toHaveLength(1);
  });

  it('gives a classifier’s classes to labels, under the card’s name, without labels knowing it', async () => {
    const file = card('labelled', classifier());
    const db = path.join(work, 'labelled.db');
    const run = await cli(['run', images, '--model-card', file, '--tasks', 'labels,mean-colour', '--db', db, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const expected = softmax([200 / 255, 100 / 255, 50 / 255]);
    type Label = { name: string; confidence: number; source: string; sources: string[] };
    const fromCard = (results(db, 'labels').get('brown.png').labels as Label[]).filter((l) => l.sources.includes('mean-colour'));
    expect(fromCard.map((l) => l.name)).toEqual(['red', 'green', 'blue']);
    // meta names the flat colour red too, from all of the pixels: one label, meta's stronger evidence first.
    expect(fromCard[0]).toEqual({ name: 'red', confidence: 1, source: 'meta', sources: ['meta', 'mean-colour'] });
    fromCard.slice(1).forEach((l, i) => expect([l.source, l.confidence]).toEqual(['mean-colour', expect.closeTo(expected[i + 1]!, 3)]));
    const listed = await cli(['tasks', '--json', '--model-card', file]);
    expect(JSON.parse(listed.stdout).find((t: { name: string }) => t.name === 'labels').uses).toEqual(['ocr', 'mean-colour']);
  });

  it('applies the card’s layout, channel order and normalisation', async () => {
    const file = card('nhwc', {
      ...classifier({ id: 'mean-bgr', model: 'mean-nhwc.onnx' }),
      input: { size: [16, 16], layout: 'NHWC', colour: 'BGR', resize: 'letterbox', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      output: { activation: 'none', top: 3 },
      labels: ['b', 'g', 'r'],
    });
    const db = path.join(work, 'nhwc.db');
    const run = await cli(['run', path.join(images, 'brown.png'), '--model-card', file, '--tasks', 'mean-bgr', '--db', db, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const result = results(db, 'mean-bgr').get('brown.png');
    // Letterboxed with black bars: the 40x30 image fills 16x12 of the 16x16 input.
    const share = 12 / 16;
    const value = (channel: number) => ((channel / 255) * share - 0.5) / 0.25;
    expect(result.top.label).toBe('r');
    expect(result.top.score).toBeCloseTo(value(200), 2);
    // Scores under the default minimum (0) are not listed.
    expect(result.classes.map((c: { label: string }) => c.label)).toEqual(value(100) >= 0 ? ['r', 'g'] : ['r']);
  });

  it('decodes a boxes + scores detector into upright original pixels, with per-class NMS', async () => {
    const file = card('detector', {
      id: 'boxes',
      kind: 'detector',
      model: 'boxes.onnx',
      licence: 'MIT',
      input: { size: 64, layout: 'NCHW', colour: 'RGB', resize: 'letterbox', pad: 255 },
      output: { format: 'boxes-scores', boxes: 'boxes', scores: 'scores', boxFormat: 'xyxy', coordinates: 'normalized' },
      labels: ['cat', 'dog'],
    });
    const db = path.join(work, 'detector.db');
    const run = await cli(['run', path.join(images, 'white.png'), '--model-card', file, '--tasks', 'boxes', '--db', db, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const result = results(db, 'boxes').get('white.png');
    // 200x100 letterboxed to 64x32 at y 16: x = 6.4 / 0.32 = 20, y = (12.8 - 16) / 0.32 -> 0 (clamped), x1 = 100, y1 = 70.
    expect(result.count).toBe(2);
    expect(result.detections).toEqual([
      { label: 'cat', index: 0, score: 0.9, box: { x: 20, y: 0, width: 80, height: 70 } },
      { label: 'dog', index: 1, score: 0.7, box: { x: 20, y: 0, width: 80, height: 70 } },
    ]);
  });

  it('decodes a YOLO-layout detector', async () => {
    const file = card('yolo', {
      id: 'yolo',
      kind: 'detector',
      model: 'yolo.onnx',
      input: { size: 32, layout: 'NCHW', colour: 'RGB', resize: 'stretch' },
      output: { format: 'yolo' },
      labels: ['cat', 'dog'],
    });
    const db = path.join(work, 'yolo.db');
    const run = await cli(['run', path.join(images, 'white.png'), '--model-card', file, '--tasks', 'yolo', '--db', db, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    // Box 0: centre (16, 16), 8x16 in a 32x32 input stretched from 200x100: x 12..20 -> 75..125, y 8..24 -> 25..75.
    expect(results(db, 'yolo').get('white.png').detections).toEqual([{ label: 'dog', index: 1, score: 0.95, box: { x: 75, y: 25, width: 50, height: 50 } }]);
  });

  it('writes a segmenter’s mask at full resolution with a smooth edge, and a cut-out on request', async () => {
    const file = card('segmenter', {
      id: 'red-seg',
      kind: 'segmenter',
      model: 'red.onnx',
      input: { size: 32, layout: 'NCHW', colour: 'RGB', resize: 'stretch' },
      output: { activation: 'none' },
    });
    const db = path.join(work, 'seg.db');
    const out = path.join(work, 'seg-out');
    const run = await cli(['run', path.join(images, 'half.png'), '--model-card', file, '--tasks', 'red-seg', '--db', db, '--out', out, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const result = results(db, 'red-seg').get('half.png');
    expect(result.foreground).toBeGreaterThan(0.45);
    expect(result.foreground).toBeLessThan(0.55);
    expect(result.box.x).toBe(0);
    expect(Math.abs(result.box.width - 150)).toBeLessThanOrEqual(6);
    expect(result.box.height).toBe(200);

    const maskFile = path.join(out, 'red-seg', 'half.png');
    const header = await sharp(maskFile).metadata();
    expect([header.width, header.height, header.channels]).toEqual([300, 200, 1]);
    const mask = await sharp(maskFile).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => mask.data[y * 300 + x]!;
    expect(at(20, 100)).toBe(255);
    expect(at(280, 100)).toBe(0);
    // Upsampled smoothly: the edge ramps through intermediate values rather than stepping.
    const row = Array.from({ length: 40 }, (_, i) => at(130 + i, 100));
    expect(row.filter((v) => v > 20 && v < 235).length).toBeGreaterThanOrEqual(3);

    const cut = await cli(['run', path.join(images, 'half.png'), '--model-card', file, '--tasks', 'red-seg', '--red-seg-output', 'cutout', '--db', db, '--out', out, '--quiet']);
    expect(cut.code, cut.stderr).toBe(0);
    const cutout = await sharp(path.join(out, 'red-seg', 'half.png')).raw().toBuffer({ resolveWithObject: true });
    expect(cutout.info.channels).toBe(4);
    expect(cutout.data[(100 * 300 + 20) * 4]).toBe(255); // red stays
    expect(cutout.data[(100 * 300 + 280) * 4 + 3]).toBe(0); // black is transparent
  });

  it('stores an embedder’s vector as float32 in the ledger', async () => {
    const file = card('embedder', { id: 'colour-vec', kind: 'embedder', model: 'embed.onnx', input: { size: 8, layout: 'NCHW', colour: 'RGB', resize: 'stretch' }, output: { normalize: true } });
    const db = path.join(work, 'embed.db');
    const run = await cli(['run', path.join(images, 'brown.png'), '--model-card', file, '--tasks', 'colour-vec', '--db', db, '--quiet']);
    expect(run.code, run.stderr).toBe(0);
    const ledger = new Database(db, { readonly: true });
    const row = ledger.prepare(`SELECT vector, result FROM jobs WHERE task = 'colour-vec'`).get() as { vector: Buffer; result: string };
    ledger.close();
    const vector = new Float32Array(row.vector.buffer, row.vector.byteOffset, row.vector.byteLength / 4);
    const norm = Math.hypot(200, 100, 50);
    expect(Array.from(vector).map((v) => Number(v.toFixed(4)))).toEqual([200 / norm, 100 / norm, 50 / norm].map((v) => Number(v.toFixed(4))));
    expect(JSON.parse(row.result).dims).toBe(3);

    // Its vectors are what duplicates compares; one vector makes no pair, and no warning about
    // how surely pairs are found.
    const alone = await cli(['duplicates', '--db', db, '--by', 'embedding', '--embedding-task', 'colour-vec']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stderr).toBe('');
    expect(alone.stdout).toMatch(/^0 groups of exact duplicates, 0 groups of similar images \(cosine >= 0\.9\)/);
  });

  it('lists card tasks in imgpipe tasks and imgpipe models', async () => {
    const file = card('listed', classifier({ id: 'listed', licence: 'Apache-2.0' }));
    const tasks = await cli(['tasks', '--model-card', file, '--json']);
    expect(tasks.code, tasks.stderr).toBe(0);
    const task = JSON.parse(tasks.stdout).find((t: { name: string }) => t.name === 'listed');
    expect(task.options.map((o: { flag: string }) => o.flag)).toEqual(['--listed-top', '--listed-min-score']);
    const models = await cli(['models', '--model-card', file, '--json']);
    expect(models.code, models.stderr).toBe(0);
    expect(JSON.parse(models.stdout).find((m: { id: string }) => m.id === 'listed')).toMatchObject({ format: 'onnx', licence: 'Apache-2.0', installed: true });
  });

  it('models verify reports a card whose model changed as FAIL (exit 1), like a built-in model; its other mistakes stay usage errors', async () => {
    const hashed = card('hashed', classifier({ id: 'hashed', sha256: sha256File(path.join(cards, 'mean.onnx')) }));
    expect((await cli(['models', 'verify', '--model-card', hashed])).stdout).toMatch(/^ok +hashed$/m);
    const stale = card('stale', classifier({ id: 'stale', sha256: '0'.repeat(64) }));
    const verify = await cli(['models', 'verify', '--model-card', stale]);
    expect([verify.code, verify.stderr]).toEqual([1, '']);
    expect(verify.stdout).toMatch(/^FAIL stale: model card .*stale\.json: sha256: .*mean\.onnx does not match \(the file changed, or the card is for another file\) \(fix: restore the file the card describes, or put the new file's sha256 in .*stale\.json\)$/m);
    const models = await cli(['models', '--model-card', stale, '--json']);
    expect(models.code, models.stderr).toBe(0);
    expect(JSON.parse(models.stdout).find((m: { id: string }) => m.id === 'stale')).toMatchObject({ installed: false, problems: [expect.stringMatching(/sha256: .* does not match/)] });
    // Every other command refuses it, as run does (see the next test).
    const tasks = await cli(['tasks', '--model-card', stale]);
    expect([tasks.code, tasks.stderr]).toEqual([2, expect.stringMatching(/^imgpipe: error: model card .*stale\.json: sha256: .* does not match/)]);
    const wrong = await cli(['models', 'verify', '--model-card', card('wrong', classifier({ id: 'wrong', labels: ['a', 'b'] }))]);
    expect([wrong.code, wrong.stderr]).toEqual([2, expect.stringMatching(/labels: 2 labels for a model with 3 classes/)]);
  });

  it('loadTimeoutSeconds becomes the task’s load time (imgpipe tasks shows it; the scheduler’s tests show it used); set alone it redoes no job; out of range it is refused', async () => {
    const loadTimeout = async (file: string): Promise<number> => {
      const tasks = await cli(['tasks', '--json', '--model-card', file]);
      expect(tasks.code, tasks.stderr).toBe(0);
      return JSON.parse(tasks.stdout).find((t: { name: string }) => t.name === 'slow-load').loadTimeoutSeconds;
    };
    const plain = card('slow-load', classifier({ id: 'slow-load' }));
    expect(await loadTimeout(plain)).toBe(120);
    const db = path.join(work, 'slow-load.db');
    const run = async (): Promise<Record<string, number>> => {
      const result = await cli(['run', images, '--model-card', plain, '--tasks', 'slow-load', '--db', db, '--json']);
      expect(result.code, result.stderr).toBe(0);
      return summaryOf(result.stdout).jobs;
    };
    expect(await run()).toMatchObject({ done: 3 });
    // Added as a last field, then as a first one: a time limit changes no result.
    for (const body of [classifier({ id: 'slow-load', loadTimeoutSeconds: 600 }), { loadTimeoutSeconds: 900.5, ...classifier({ id: 'slow-load' }) }]) {
      card('slow-load', body);
      expect(await loadTimeout(plain)).toBe(body.loadTimeoutSeconds);
      expect(await run()).toMatchObject({ done: 0, alreadyDone: 3 });
    }
    // Any other edit still redoes them.
    card('slow-load', classifier({ id: 'slow-load', loadTimeoutSeconds: 600, description: 'edited' }));
    expect(await run()).toMatchObject({ done: 3, alreadyDone: 0 });

    for (const bad of [0, -5, '600', 100_000]) {
      const file = card('bad-load', classifier({ id: 'bad-load', loadTimeoutSeconds: bad }));
      const result = await cli(['tasks', '--model-card', file]);
      expect([result.code, result.stderr]).toEqual([2, `imgpipe: error: model card ${file}: loadTimeoutSeconds: expected a number of seconds above 0, at most 86400, got ${JSON.stringify(bad)}\n`]);
    }
  });

  it('refuses a card with a mistake, naming the field, before any work', async () => {
    const db = path.join(work, 'refused.db');
    const refuse = async (body: Record<string, unknown>, message: RegExp) => {
      const result = await cli(['run', images, '--model-card', card('bad', body), '--tasks', String(body.id ?? 'x'), '--db', db]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    };
    await refuse(classifier({ input: { size: 16, layout: 'nchw', colour: 'RGB', resize: 'stretch' } }), /input\.layout: expected one of NCHW, NHWC, got "nchw"/);
    await refuse(classifier({ input: { size: 32, layout: 'NCHW', colour: 'RGB', resize: 'stretch' } }), /input\.size: the card says 32x32, the model's pixels is \[1,3,16,16\]/);
    // A size may be one side or two: a problem with it names both forms, whichever was tried.
    const SIZE = /input\.size: expected a side \(224\) or \[width, height\], whole pixels from 1 to 8192, got /;
    await refuse(classifier({ input: { layout: 'NCHW', colour: 'RGB', resize: 'stretch' } }), new RegExp(`${SIZE.source}nothing`));
    await refuse(classifier({ input: { size: [16], layout: 'NCHW', colour: 'RGB', resize: 'stretch' } }), new RegExp(`${SIZE.source}\\[16\\]`));
    await refuse(classifier({ input: { size: 16.5, layout: 'NCHW', colour: 'RGB', resize: 'stretch' } }), new RegExp(`${SIZE.source}16\\.5`));
    await refuse(classifier({ output: { name: 'probs' } }), /output\.name: the model has no tensor 'probs' \(it has: logits/);
    await refuse(classifier({ labels: ['a', 'b'] }), /labels: 2 labels for a model with 3 classes/);
    await refuse(classifier({ id: 'meta' }), /id: 'meta' is already a task/);
    await refuse(classifier({ model: 'missing.onnx' }), /model: .*missing\.onnx is not a file/);
    await refuse(classifier({ sha256: '0'.repeat(64) }), /sha256: .* does not match/);
    await refuse(classifier({ kind: 'ranker' }), /kind: expected one of classifier, detector, segmenter, embedder/);
    writeFileSync(path.join(cards, 'junk.onnx'), 'not a model');
    await refuse(classifier({ model: 'junk.onnx' }), /model: onnxruntime cannot load/);
    // Labels that do not fit a detector's or a segmenter's classes would name them wrongly (a YOLO
    // output's layout is even told by its label count): refused like a classifier's.
    const yolo = (labels: string[]) => ({ id: 'parts', kind: 'detector', model: 'yolo.onnx', input: { size: 32, layout: 'NCHW', resize: 'stretch' }, output: { format: 'yolo' }, labels });
    await refuse(yolo(['a', 'b', 'c']), /labels: 3 labels do not fit the YOLO output output0 \[1,6,2\]: it needs 4 \+ 3 = 7 features/);
    await refuse(yolo(['a']), /labels: 1 label does not fit the YOLO output output0 \[1,6,2\]/);
    // A detector card on a model that gives no boxes (here the classifier's [1,3] logits).
    await refuse({ ...yolo([]), model: 'mean.onnx', input: { size: 16, layout: 'NCHW', resize: 'stretch' } }, /output\.format: logits is \[1,3\]; a YOLO output is \[1,4\+C,N\]/);
    await refuse(
      { ...yolo([]), model: 'mean.onnx', input: { size: 16, layout: 'NCHW', resize: 'stretch' }, output: { format: 'boxes-scores', boxes: 'logits', scores: 'logits' } },
      /output\.boxes: logits is \[1,3\]; a boxes-scores detector's boxes are \[1,N,4\]/,
    );
    const boxes = { id: 'boxes', kind: 'detector', model: 'boxes.onnx', input: { size: 64, layout: 'NCHW', resize: 'stretch' }, output: { format: 'boxes-scores', boxes: 'boxes', scores: 'scores' } };
    await refuse({ ...boxes, labels: ['a', 'b', 'c', 'd'] }, /labels: 4 labels for a model with 2 classes \(scores \[1,3,2\]\)/);
    const segmenter = { id: 'regions', kind: 'segmenter', model: 'rgb-classes.onnx', input: { size: 32, layout: 'NCHW', resize: 'stretch' } };
    await refuse({ ...segmenter, output: { activation: 'softmax' }, labels: ['sky', 'grass'] }, /labels: 2 labels for a model with 3 classes \(classes \[1,3,32,32\]\)/);
    await refuse({ ...segmenter, output: { activation: 'softmax', backgroundIndex: 3 } }, /output\.backgroundIndex: 3 is beyond the 3 classes of classes \[1,3,32,32\]/);
    const missing = await cli(['run', images, '--model-card', path.join(cards, 'nope.json'), '--db', db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--model-card: cannot read .*nope\.json: ENOENT/);
    expect(() => readFileSync(db)).toThrow();
  });

  it('names the card as it was given, whether the mistake is in a field or found against the model', async () => {
    const given = (name: string, body: Record<string, unknown>): string => path.relative(work, card(name, body));
    const mistakes: [string, Record<string, unknown>, string][] = [
      ['field', classifier({ kind: 'ranker' }), 'kind: expected one of'],
      ['tensors', classifier({ labels: ['a', 'b'] }), 'labels: 2 labels for a model with 3 classes'],
      ['altered', classifier({ sha256: '0'.repeat(64) }), 'sha256: '],
    ];
    for (const [name, body, problem] of mistakes) {
      const file = given(name, body);
      expect(file).toBe(path.join('cards', `${name}.json`));
      const result = await cli(['tasks', '--model-card', file], { cwd: work });
      expect([result.code, result.stderr]).toEqual([2, expect.stringMatching(new RegExp(`^imgpipe: error: model card ${file.replace(/[.\\]/g, '\\$&')}: ${problem}`))]);
    }
    const verify = await cli(['models', 'verify', '--model-card', path.join('cards', 'altered.json')], { cwd: work });
    expect(verify.stdout).toMatch(/^FAIL mean-colour: model card cards\/altered\.json: sha256: .* \(fix: restore the file the card describes, or put the new file's sha256 in cards\/altered\.json\)$/m);
  });

  it('fails an image, saying why, when only inference shows that the labels do not fit (a model with free dimensions)', async () => {
    const db = path.join(work, 'free.db');
    const brown = path.join(images, 'brown.png');
    const failure = async (body: Record<string, unknown>, message: RegExp) => {
      const run = await cli(['run', brown, '--model-card', card(String(body.id), body), '--tasks', String(body.id), '--db', db, '--quiet']);
      expect(run.code, run.stderr).toBe(1);
      const [row] = query<{ state: string; error_code: string; error_message: string }>(db, `SELECT state, error_code, error_message FROM jobs WHERE task = ?`, body.id);
      expect(row).toMatchObject({ state: 'failed', error_code: 'E_TASK' });
      expect(row!.error_message).toMatch(message);
      expect(row!.error_message).toMatch(/shows only at inference \(check the card's labels and input\.layout\)/);
    };
    const free = { kind: 'classifier', model: 'mean-free.onnx', output: { activation: 'softmax' }, labels: ['red', 'green', 'blue'] };
    // NHWC given to an NCHW model that takes any shape: its "classes" are the 16 rows of the image.
    await failure({ ...free, id: 'free-layout', input: { size: 16, layout: 'NHWC', resize: 'stretch' } }, /^labels: 3 labels for a model with 16 classes \(logits \[1,16\]\)/);
    await failure({ ...free, id: 'free-labels', input: { size: 16, layout: 'NCHW', resize: 'stretch' }, labels: ['red', 'green', 'blue', 'alpha'] }, /^labels: 4 labels for a model with 3 classes/);
    await failure(
      { id: 'free-yolo', kind: 'detector', model: 'yolo-free.onnx', input: { size: 32, layout: 'NCHW', resize: 'stretch' }, output: { format: 'yolo' }, labels: ['cat', 'dog', 'bird'] },
      /^labels: 3 labels do not fit the YOLO output output0 \[1,32,32\]/,
    );
    // The same cards with fitting labels and layout decode as the fixed models do.
    const right = await cli(['run', brown, '--model-card', card('free-right', { ...free, id: 'free-right', input: { size: 16, layout: 'NCHW', resize: 'stretch' } }), '--tasks', 'free-right', '--db', db, '--quiet']);
    expect(right.code, right.stderr).toBe(0);
    expect(results(db, 'free-right').get('brown.png').top.label).toBe('red');
  });

  it('a model that fails on an image fails that job with onnxruntime\'s reason, and writes nothing of its own to stderr', async () => {
    const db = path.join(work, 'reshape.db');
    const file = card('reshape', { id: 'reshape', kind: 'classifier', model: 'reshape.onnx', input: { size: 16, layout: 'NCHW', resize: 'stretch' }, output: {} });
    const run = await cli(['run', path.join(images, 'brown.png'), '--model-card', file, '--tasks', 'reshape', '--db', db, '--log-format', 'json']);
    expect(run.code, run.stderr).toBe(1);
    const [row] = query<{ error_code: string; error_message: string }>(db, `SELECT error_code, error_message FROM jobs WHERE task = 'reshape'`);
    expect(row!.error_code).toBe('E_TASK');
    expect(row!.error_message).toMatch(/cannot be reshaped to the requested shape/);
    // The JSON log owns stderr: every line is one of its objects, none onnxruntime's own.
    const lines = run.stderr.trim().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.map((line) => JSON.parse(line).event)).toContain('job_failed');
  });
});
