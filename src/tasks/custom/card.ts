/**
 * Model cards: a JSON file that turns an ONNX model the user brings into an imgpipe task. This
 * module reads and checks a card on its own terms (fields, types, files); checking it against
 * the model itself (input and output names and shapes) is in check.ts. Every problem names the
 * card, the field and what was expected.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../errors.js';
import type { ColourOrder, InputSpec, Layout, ResizeMode } from '../../runtime/tensor.js';

const CARD_KINDS = ['classifier', 'detector', 'segmenter', 'embedder'] as const;
export type CardKind = (typeof CARD_KINDS)[number];

export type Activation = 'none' | 'softmax' | 'sigmoid';
export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh' | 'yxyx';

export interface ClassifierOutput {
  kind: 'classifier';
  name?: string;
  activation: Activation;
  top: number;
  minScore: number;
}

export interface DetectorOutput {
  kind: 'detector';
  /** `boxes-scores`: a boxes tensor [1,N,4] and a scores tensor [1,N,C] (or [1,N] with a classes tensor). `yolo`: one tensor [1,4+C,N] or [1,N,4+C], centre boxes in input pixels. */
  format: 'boxes-scores' | 'yolo';
  boxes?: string;
  scores?: string;
  classes?: string;
  name?: string;
  boxFormat: BoxFormat;
  /** Box coordinates as fractions of the input (`normalized`) or in its pixels. */
  coordinates: 'normalized' | 'pixels';
  activation: Activation;
  /** Class index 0 is "background" and never reported (SSD-style models). */
  backgroundClass: boolean;
  minScore: number;
  nms: number;
}

export interface SegmenterOutput {
  kind: 'segmenter';
  name?: string;
  /** Single-channel maps: `sigmoid` for logits, `none` for probabilities. Multi-class maps: `softmax` or `none`. */
  activation: Activation;
  /** For multi-class maps: the class that is background (its complement is the foreground). */
  backgroundIndex: number;
  /** Which file to write per image. */
  artefact: 'mask' | 'cutout' | 'none';
}

export interface EmbedderOutput {
  kind: 'embedder';
  name?: string;
  normalize: boolean;
}

export type CardOutput = ClassifierOutput | DetectorOutput | SegmenterOutput | EmbedderOutput;

export interface ModelCard {
  /**
   * The card file as given (`--model-card`), which every message about the card names: read at
   * start-up, it names the same file as long as the process runs.
   */
  file: string;
  id: string;
  kind: CardKind;
  description: string;
  version: number;
  licence: string;
  /** The ONNX file, absolute. */
  model: string;
  modelBytes: number;
  sha256?: string;
  input: InputSpec & { name?: string };
  output: CardOutput;
  labels: string[];
  /**
   * What a worker's first job may take beyond its time limit, to load the model (a large one may
   * need more than DEFAULT_LOAD_TIMEOUT_SECONDS); undefined for that default.
   */
  loadTimeoutSeconds?: number;
  /** The card as written: part of the task's fingerprint, so editing the card redoes its jobs. */
  source: string;
}

const TASK_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Reads fields of a JSON object, each problem naming the card and the field's path. */
class Fields {
  constructor(
    private readonly where: string,
    private readonly object: Record<string, unknown>,
    private readonly prefix = '',
  ) {}

  fail(field: string, expected: string, got?: unknown): never {
    const shown = got === undefined ? 'nothing' : JSON.stringify(got);
    throw new UsageError(`${this.where}: ${this.prefix}${field}: expected ${expected}, got ${shown}`);
  }

  has(field: string): boolean {
    return this.object[field] !== undefined;
  }

  raw(field: string): unknown {
    return this.object[field];
  }

  string(field: string, fallback?: string, pattern?: RegExp, hint?: string): string {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) this.fail(field, hint ?? 'a non-empty string', value);
    return value;
  }

  optionalString(field: string): string | undefined {
    return this.has(field) ? this.string(field) : undefined;
  }

  choice<T extends string>(field: string, choices: readonly T[], fallback?: T): T {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) this.fail(field, `one of ${choices.join(', ')}`, value);
    return value as T;
  }

  number(field: string, min: number, max: number, fallback?: number, integer = false): number {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      this.fail(field, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, value);
    }
    return value;
  }

  boolean(field: string, fallback: boolean): boolean {
    const value = this.object[field] ?? fallback;
    if (typeof value !== 'boolean') this.fail(field, 'true or false', value);
    return value;
  }

  numbers(field: string, count: number, fallback: number[] | undefined, min = -Infinity, max = Infinity): number[] {
    const value = this.object[field] ?? fallback;
    if (!Array.isArray(value) || value.length !== count || value.some((v) => typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)) {
      this.fail(field, `a list of ${count} number${count === 1 ? '' : 's'}${min > -Infinity ? ` from ${min}` : ''}${max < Infinity ? ` to ${max}` : ''}`, value);
    }
    return value as number[];
  }

  object_(field: string): Fields {
    const value = this.object[field];
    if (!value || typeof value !== 'object' || Array.isArray(value)) this.fail(field, 'an object', value);
    return new Fields(this.where, value as Record<string, unknown>, `${this.prefix}${field}.`);
  }

  only(allowed: readonly string[]): void {
    for (const key of Object.keys(this.object)) {
      if (!allowed.includes(key)) throw new UsageError(`${this.where}: ${this.prefix}${key}: unknown field (fields here: ${allowed.join(', ')})`);
    }
  }
}

function readInput(fields: Fields): InputSpec & { name?: string } {
  fields.only(['name', 'size', 'layout', 'colour', 'resize', 'scale', 'mean', 'std', 'pad', 'type']);
  // A square side, or [width, height]; a problem names both forms, whichever was attempted.
  const SIZE = 'a side (224) or [width, height], whole pixels from 1 to 8192';
  const raw = fields.raw('size');
  const sides = typeof raw === 'number' ? [raw, raw] : Array.isArray(raw) && raw.length === 2 ? raw : undefined;
  if (!sides || sides.some((value) => typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 8192)) fields.fail('size', SIZE, raw);
  const [width, height] = sides as [number, number];
  const colour = fields.choice<ColourOrder>('colour', ['RGB', 'BGR', 'GRAY'], 'RGB');
  const channels = colour === 'GRAY' ? 1 : 3;
  const type = fields.choice('type', ['float32', 'uint8'] as const, 'float32');
  const std = fields.numbers('std', channels, new Array<number>(channels).fill(1));
  if (std.some((value) => value === 0)) fields.fail('std', 'no zero', std);
  return {
    name: fields.optionalString('name'),
    width,
    height,
    layout: fields.choice<Layout>('layout', ['NCHW', 'NHWC']),
    colour,
    resize: fields.choice<ResizeMode>('resize', ['letterbox', 'stretch', 'crop']),
    scale: fields.number('scale', -1e6, 1e6, 1 / 255),
    mean: fields.numbers('mean', channels, new Array<number>(channels).fill(0)),
    std,
    pad: fields.number('pad', 0, 255, 0, true),
    type,
  };
}

function readOutput(kind: CardKind, fields: Fields): CardOutput {
  const activations = ['none', 'softmax', 'sigmoid'] as const;
  switch (kind) {
    case 'classifier':
      fields.only(['name', 'activation', 'top', 'minScore']);
      return {
        kind,
        name: fields.optionalString('name'),
        activation: fields.choice('activation', activations, 'softmax'),
        top: fields.number('top', 1, 1000, 5, true),
        minScore: fields.number('minScore', 0, 1, 0),
      };
    case 'detector': {
      fields.only(['format', 'name', 'boxes', 'scores', 'classes', 'boxFormat', 'coordinates', 'activation', 'backgroundClass', 'minScore', 'nms']);
      const format = fields.choice('format', ['boxes-scores', 'yolo'] as const);
      const output: DetectorOutput = {
        kind,
        format,
        name: format === 'yolo' ? fields.optionalString('name') : undefined,
        boxes: format === 'boxes-scores' ? fields.string('boxes') : undefined,
        scores: format === 'boxes-scores' ? fields.string('scores') : undefined,
        classes: format === 'boxes-scores' ? fields.optionalString('classes') : undefined,
        boxFormat: fields.choice('boxFormat', ['xyxy', 'xywh', 'cxcywh', 'yxyx'] as const, format === 'yolo' ? 'cxcywh' : 'xyxy'),
        coordinates: fields.choice('coordinates', ['normalized', 'pixels'] as const, format === 'yolo' ? 'pixels' : 'normalized'),
        activation: fields.choice('activation', activations, 'none'),
        backgroundClass: fields.boolean('backgroundClass', false),
        minScore: fields.number('minScore', 0, 1, 0.3),
        nms: fields.number('nms', 0, 1, 0.45),
      };
      return output;
    }
    case 'segmenter':
      fields.only(['name', 'activation', 'backgroundIndex', 'artefact']);
      return {
        kind,
        name: fields.optionalString('name'),
        activation: fields.choice('activation', activations, 'none'),
        backgroundIndex: fields.number('backgroundIndex', 0, 10_000, 0, true),
        artefact: fields.choice('artefact', ['mask', 'cutout', 'none'] as const, 'mask'),
      };
    case 'embedder':
      fields.only(['name', 'normalize']);
      return { kind, name: fields.optionalString('name'), normalize: fields.boolean('normalize', true) };
  }
}

function readLabels(where: string, value: unknown, folder: string): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) {
    if (value.some((label) => typeof label !== 'string' || label === '')) throw new UsageError(`${where}: labels: expected a list of non-empty strings or a file name`);
    return value as string[];
  }
  if (typeof value !== 'string') throw new UsageError(`${where}: labels: expected a list of strings or a file name (one label per line), got ${JSON.stringify(value)}`);
  const file = path.resolve(folder, value);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${where}: labels: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

/** Reads and checks one card file; `reserved` are task names it may not take. */
export function readModelCard(file: string, reserved: ReadonlySet<string>): ModelCard {
  const absolute = path.resolve(file);
  const where = `model card ${file}`;
  let source: string;
  try {
    source = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new UsageError(`--model-card: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch (error) {
    throw new UsageError(`${where}: not valid JSON: ${(error as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`${where}: expected a JSON object`);
  const fields = new Fields(where, parsed as Record<string, unknown>);
  fields.only(['$schema', 'id', 'kind', 'description', 'version', 'licence', 'license', 'model', 'sha256', 'loadTimeoutSeconds', 'input', 'output', 'labels']);
  const id = fields.string('id', undefined, TASK_NAME, 'a task name: lower-case letters, digits and dashes, starting with a letter');
  if (reserved.has(id)) throw new UsageError(`${where}: id: '${id}' is already a task; pick another name`);
  const kind = fields.choice('kind', CARD_KINDS);
  const folder = path.dirname(absolute);
  const model = path.resolve(folder, fields.string('model'));
  const stats = statSync(model, { throwIfNoEntry: false });
  if (!stats?.isFile()) throw new UsageError(`${where}: model: ${model} is not a file`);
  const sha256 = fields.optionalString('sha256');
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256)) fields.fail('sha256', '64 lower-case hex digits', sha256);
  const licence = fields.has('licence') ? fields.string('licence') : fields.string('license', 'unknown');
  const labels = readLabels(where, (parsed as Record<string, unknown>).labels, folder);
  // Above 0: 0 would leave a worker no time at all to load the model. A day at most, as --timeout:
  // the two are added into one timer, and Node runs a timer over 24.8 days at once.
  const loadTimeout = fields.raw('loadTimeoutSeconds');
  if (loadTimeout !== undefined && (typeof loadTimeout !== 'number' || !Number.isFinite(loadTimeout) || loadTimeout <= 0 || loadTimeout > 86_400)) {
    fields.fail('loadTimeoutSeconds', 'a number of seconds above 0, at most 86400', loadTimeout);
  }
  return {
    file,
    id,
    kind,
    description: fields.string('description', `${kind} from ${path.basename(model)} (model card ${path.basename(file)})`),
    version: fields.number('version', 1, 1_000_000, 1, true),
    licence,
    model,
    modelBytes: stats.size,
    sha256,
    input: readInput(fields.object_('input')),
    output: readOutput(kind, fields.object_('output')),
    labels,
    ...(loadTimeout !== undefined ? { loadTimeoutSeconds: loadTimeout as number } : {}),
    source,
  };
}
