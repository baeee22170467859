/**
 * Reading a model's output tensors the way its card describes them: activations, and the
 * decoding of each kind's outputs into results in the upright original's pixels.
 */
import type { Box } from '../../runtime/boxes.js';
import { nonMaxSuppression } from '../../runtime/boxes.js';
import type { Placement } from '../../runtime/tensor.js';
import { toOriginal } from '../../runtime/tensor.js';
import type { Activation, BoxFormat, ClassifierOutput, DetectorOutput } from './card.js';

export interface OutputTensor {
  data: ArrayLike<number>;
  dims: readonly number[];
}

export const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Softmax over `values` (a copy), shifted by the maximum for numerical safety. */
export function softmax(values: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]!);
  const out = new Float64Array(values.length);
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += out[i] = Math.exp(values[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

function activate(values: ArrayLike<number>, activation: Activation): Float64Array {
  if (activation === 'softmax') return softmax(values);
  const out = Float64Array.from(values as ArrayLike<number>);
  if (activation === 'sigmoid') for (let i = 0; i < out.length; i++) out[i] = sigmoid(out[i]!);
  return out;
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;
const round1 = (value: number): number => Math.round(value * 10) / 10;

export const labelOf = (labels: readonly string[], index: number): string => labels[index] ?? `class ${index}`;

/**
 * Why a card's labels cannot name a model's classes, or undefined (a card without labels names
 * them by index). The start-up check asks it of the model's declared shapes; decoding asks it
 * again of the outputs themselves, since a dimension the model leaves free (or a wrong
 * `input.layout` on a model that accepts any shape) shows only at inference, and a label list
 * that does not fit would otherwise name classes wrongly without a word.
 */
export function labelsProblem(labels: number, classes: number, tensor: string, dims: readonly (number | string)[]): string | undefined {
  if (labels === 0 || labels === classes) return undefined;
  return `labels: ${labels === 1 ? '1 label' : `${labels} labels`} for a model with ${classes === 1 ? '1 class' : `${classes} classes`} (${tensor} [${dims.join(',')}])`;
}

/** The features of one YOLO box for `classes` labels: 4 + C (YOLOv8 and later) or 5 + C (YOLOv5). */
export function yoloProblem(labels: number, tensor: string, dims: readonly (number | string)[]): string {
  return `labels: ${labels === 1 ? '1 label does' : `${labels} labels do`} not fit the YOLO output ${tensor} [${dims.join(',')}]: it needs 4 + ${labels} = ${4 + labels} features a box ([1,${4 + labels},N] or [1,N,${4 + labels}]) or, YOLOv5, 5 + ${labels} = ${5 + labels} ([1,N,${5 + labels}])`;
}

/** Thrown while decoding: the message says why it was not caught at start-up. */
function atInference(problem: string): Error {
  return new Error(`${problem}; the model's declared shape left this open, so it shows only at inference (check the card's labels and input.layout)`);
}

export interface Classification {
  label: string;
  index: number;
  score: number;
}

export interface ClassifierResult {
  /** The best class, whatever its score. */
  top: Classification;
  /** The best `top` classes scoring at least the minimum, best first. */
  classes: Classification[];
}

export function classify(tensor: OutputTensor, output: ClassifierOutput, labels: readonly string[], top: number, minScore: number, name = 'output'): ClassifierResult {
  const problem = labelsProblem(labels.length, tensor.data.length, name, tensor.dims);
  if (problem) throw atInference(problem);
  const scores = activate(tensor.data, output.activation);
  const ranked = Array.from(scores, (score, index) => ({ label: labelOf(labels, index), index, score: round3(score) })).sort((a, b) => b.score - a.score);
  return { top: ranked[0]!, classes: ranked.filter((c) => c.score >= minScore).slice(0, top) };
}

export interface Detection {
  label: string;
  index: number;
  score: number;
  box: Box;
}

/** One box in the model's input pixels, from four numbers in the card's format. */
function decodeBox(a: number, b: number, c: number, d: number, format: BoxFormat, scaleX: number, scaleY: number): [number, number, number, number] {
  switch (format) {
    case 'xyxy':
      return [a * scaleX, b * scaleY, c * scaleX, d * scaleY];
    case 'yxyx':
      return [b * scaleX, a * scaleY, d * scaleX, c * scaleY];
    case 'xywh':
      return [a * scaleX, b * scaleY, (a + c) * scaleX, (b + d) * scaleY];
    case 'cxcywh':
      return [(a - c / 2) * scaleX, (b - d / 2) * scaleY, (a + c / 2) * scaleX, (b + d / 2) * scaleY];
  }
}

interface Candidate {
  index: number;
  score: number;
  corners: [number, number, number, number];
}

/** Candidates from a boxes tensor [1,N,4] and a scores tensor [1,N,C] or [1,N] (+ classes [1,N]). */
function boxesScores(output: DetectorOutput, boxes: OutputTensor, scores: OutputTensor, classes: OutputTensor | undefined, labels: readonly string[], size: [number, number], minScore: number): Candidate[] {
  const count = boxes.data.length / 4;
  const perClass = scores.data.length / count;
  if (!Number.isInteger(perClass) || perClass < 1) throw new Error(`scores [${scores.dims.join(',')}] do not fit ${count} boxes`);
  const problem = perClass > 1 ? labelsProblem(labels.length, perClass, output.scores!, scores.dims) : undefined;
  if (problem) throw atInference(problem);
  const [scaleX, scaleY] = output.coordinates === 'normalized' ? size : [1, 1];
  const first = output.backgroundClass ? 1 : 0;
  const candidates: Candidate[] = [];
  for (let n = 0; n < count; n++) {
    const row = activate(Array.prototype.slice.call(scores.data, n * perClass, (n + 1) * perClass) as number[], output.activation);
    let best = -1;
    for (let c = first; c < perClass; c++) if (best < 0 || row[c]! > row[best]!) best = c;
    const score = row[best]!;
    if (best < 0 || score < minScore) continue;
    const index = perClass === 1 && classes ? Math.round(classes.data[n]!) : best;
    const b = n * 4;
    candidates.push({ index, score, corners: decodeBox(boxes.data[b]!, boxes.data[b + 1]!, boxes.data[b + 2]!, boxes.data[b + 3]!, output.boxFormat, scaleX, scaleY) });
  }
  return candidates;
}

/**
 * Candidates from one YOLO-style tensor: [1, 4+C, N] (YOLOv8 and later, features first),
 * [1, N, 4+C], or [1, N, 5+C] (YOLOv5: an objectness score before the classes).
 */
function yolo(output: DetectorOutput, tensor: OutputTensor, name: string, labels: readonly string[], size: [number, number], minScore: number): Candidate[] {
  const [, a, b] = tensor.dims;
  if (tensor.dims.length !== 3 || a === undefined || b === undefined) throw new Error(`a YOLO output must be [1, features, boxes] or [1, boxes, features], got [${tensor.dims.join(',')}]`);
  const classes = labels.length;
  let featuresFirst: boolean;
  let objectness = false;
  if (classes > 0 && a === 4 + classes) featuresFirst = true;
  else if (classes > 0 && b === 4 + classes) featuresFirst = false;
  else if (classes > 0 && b === 5 + classes) [featuresFirst, objectness] = [false, true];
  else if (classes > 0) throw atInference(yoloProblem(classes, name, tensor.dims));
  else featuresFirst = a < b;
  const features = featuresFirst ? a : b;
  const count = featuresFirst ? b : a;
  const at = (n: number, f: number): number => tensor.data[featuresFirst ? f * count + n : n * features + f]!;
  const first = objectness ? 5 : 4;
  const [scaleX, scaleY] = output.coordinates === 'normalized' ? size : [1, 1];
  const candidates: Candidate[] = [];
  for (let n = 0; n < count; n++) {
    const scores = activate(Array.from({ length: features - first }, (_, c) => at(n, first + c)), output.activation);
    let best = 0;
    for (let c = 1; c < scores.length; c++) if (scores[c]! > scores[best]!) best = c;
    const score = scores[best]! * (objectness ? at(n, 4) : 1);
    if (score < minScore) continue;
    candidates.push({ index: best, score, corners: decodeBox(at(n, 0), at(n, 1), at(n, 2), at(n, 3), output.boxFormat, scaleX, scaleY) });
  }
  return candidates;
}

/** Detections in the upright original's pixels, after per-class non-maximum suppression. */
export function detect(
  output: DetectorOutput,
  tensors: Record<string, OutputTensor>,
  outputNames: readonly string[],
  labels: readonly string[],
  placement: Placement,
  size: [number, number],
  minScore: number,
  nms: number,
): Detection[] {
  const yoloName = output.name ?? outputNames[0]!;
  const candidates =
    output.format === 'yolo'
      ? yolo(output, tensors[yoloName]!, yoloName, labels, size, minScore)
      : boxesScores(output, tensors[output.boxes!]!, tensors[output.scores!]!, output.classes ? tensors[output.classes] : undefined, labels, size, minScore);
  const detections = candidates.map((c): Detection => {
    const [x0, y0] = toOriginal(placement, c.corners[0], c.corners[1]);
    const [x1, y1] = toOriginal(placement, c.corners[2], c.corners[3]);
    return {
      label: labelOf(labels, c.index),
      index: c.index,
      score: round3(c.score),
      box: { x: round1(Math.min(x0, x1)), y: round1(Math.min(y0, y1)), width: round1(Math.abs(x1 - x0)), height: round1(Math.abs(y1 - y0)) },
    };
  });
  const byClass = new Map<number, Detection[]>();
  for (const d of detections) byClass.set(d.index, [...(byClass.get(d.index) ?? []), d]);
  return [...byClass.values()].flatMap((group) => nonMaxSuppression(group, nms)).sort((a, b) => b.score - a.score);
}

export interface Segmentation {
  /** Foreground probability per pixel of the map. */
  map: { data: Float64Array; width: number; height: number };
  /** For multi-class maps: the share of pixels each class wins. */
  classShares?: number[];
}

/**
 * A segmentation output as a foreground probability map. Single-channel maps ([1,1,H,W],
 * [1,H,W,1], [1,H,W]) are the foreground itself; multi-class maps ([1,C,H,W] for NCHW models,
 * [1,H,W,C] for NHWC) give foreground = 1 - P(background class).
 */
export function segment(tensor: OutputTensor, activation: Activation, backgroundIndex: number, layout: 'NCHW' | 'NHWC', labels = 0, name = 'output'): Segmentation {
  const dims = tensor.dims;
  let [channels, height, width]: number[] = [];
  if (dims.length === 4) [channels, height, width] = layout === 'NCHW' ? [dims[1]!, dims[2]!, dims[3]!] : [dims[3]!, dims[1]!, dims[2]!];
  else if (dims.length === 3) [channels, height, width] = [1, dims[1]!, dims[2]!];
  else if (dims.length === 2) [channels, height, width] = [1, dims[0]!, dims[1]!];
  else throw new Error(`a segmentation output must have rank 2 to 4, got [${dims.join(',')}]`);
  const pixels = width * height;
  const data = new Float64Array(pixels);
  const planar = layout === 'NCHW' || dims.length < 4;
  if (channels === 1) {
    for (let i = 0; i < pixels; i++) data[i] = activation === 'sigmoid' ? sigmoid(tensor.data[i]!) : Math.min(1, Math.max(0, tensor.data[i]!));
    return { map: { data, width, height } };
  }
  if (backgroundIndex >= channels) throw new Error(`output.backgroundIndex: ${backgroundIndex} is beyond the output's ${channels} classes`);
  const problem = labelsProblem(labels, channels, name, dims);
  if (problem) throw atInference(problem);
  const wins = new Array<number>(channels).fill(0);
  const values = new Float64Array(channels);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < channels; c++) values[c] = tensor.data[planar ? c * pixels + i : i * channels + c]!;
    const p = activation === 'softmax' ? softmax(values) : activation === 'sigmoid' ? values.map(sigmoid) : values;
    let best = 0;
    for (let c = 1; c < channels; c++) if (p[c]! > p[best]!) best = c;
    wins[best]!++;
    data[i] = Math.min(1, Math.max(0, 1 - p[backgroundIndex]!));
  }
  return { map: { data, width, height }, classShares: wins.map((count) => Math.round((count / pixels) * 10000) / 10000) };
}
