/**
 * Checks a model card against its model, at start-up: the names it uses exist, the input's
 * rank, channels and size agree with the model's declared shape, and the labels match a
 * classifier's class count. One session is opened on the main thread for this and released.
 */
import { UsageError } from '../../errors.js';
import { sha256Of } from '../../runtime/models.js';
import { describeTensors, loadOnnxSession, type TensorInfo } from '../../runtime/onnx.js';
import { channelsOf } from '../../runtime/tensor.js';
import type { ModelCard } from './card.js';
import { labelsProblem, yoloProblem } from './outputs.js';

function list(values: readonly TensorInfo[]): string {
  return values.map((v) => `${v.name} [${v.shape.join(',')}] ${v.type}`).join('; ');
}

/** The one tensor `name` refers to, or the only one when the card names none. */
function pickTensor(where: string, field: string, name: string | undefined, tensors: readonly TensorInfo[]): TensorInfo {
  if (name !== undefined) {
    const found = tensors.find((t) => t.name === name);
    if (!found) throw new UsageError(`${where}: ${field}: the model has no tensor '${name}' (it has: ${list(tensors)})`);
    return found;
  }
  if (tensors.length !== 1) throw new UsageError(`${where}: ${field}: the model has ${tensors.length} of them, name one (${list(tensors)})`);
  return tensors[0]!;
}

/** A tensor whose rank the model declares (an empty shape: the model says nothing of it). */
const known = (tensor: TensorInfo): boolean => tensor.shape.length > 0;

const fixed = (dim: number | string | undefined): dim is number => typeof dim === 'number' && dim > 0;

/** Why the card's model is not the file the card describes (its sha256 differs), or undefined. */
export function modelAlteration(card: ModelCard): string | undefined {
  if (!card.sha256 || sha256Of(card.model) === card.sha256) return undefined;
  return `model card ${card.file}: sha256: ${card.model} does not match (the file changed, or the card is for another file)`;
}

export async function checkCardAgainstModel(card: ModelCard): Promise<void> {
  const where = `model card ${card.file}`;
  let session;
  try {
    session = await loadOnnxSession(card.model, 1);
  } catch (error) {
    throw new UsageError(`${where}: model: onnxruntime cannot load ${card.model}: ${(error as Error).message.split('\n')[0]}`);
  }
  try {
    const inputs = describeTensors(session.inputMetadata);
    const outputs = describeTensors(session.outputMetadata);
    const input = pickTensor(where, 'input.name', card.input.name, inputs);
    const spec = card.input;
    const wanted = spec.type === 'uint8' ? 'uint8' : 'float32';
    if (input.type !== wanted) throw new UsageError(`${where}: input.type: the model's input ${input.name} takes ${input.type}, the card says ${wanted}`);
    if (input.shape.length !== 4) throw new UsageError(`${where}: input: the model's input ${input.name} has shape [${input.shape.join(',')}]; imgpipe feeds images as rank-4 tensors (NCHW or NHWC)`);
    const [channelDim, heightDim, widthDim] = spec.layout === 'NCHW' ? [input.shape[1], input.shape[2], input.shape[3]] : [input.shape[3], input.shape[1], input.shape[2]];
    const channels = channelsOf(spec.colour);
    if (fixed(channelDim) && channelDim !== channels) {
      throw new UsageError(`${where}: input.layout/colour: a ${spec.layout} ${spec.colour} input has ${channels} channel(s) there, but the model's ${input.name} is [${input.shape.join(',')}]`);
    }
    if ((fixed(heightDim) && heightDim !== spec.height) || (fixed(widthDim) && widthDim !== spec.width)) {
      throw new UsageError(`${where}: input.size: the card says ${spec.width}x${spec.height}, the model's ${input.name} is [${input.shape.join(',')}] (${spec.layout})`);
    }
    checkOutputs(where, card, outputs);
  } finally {
    await session.release();
  }
}

/**
 * The output tensors the card names exist, and its labels fit the class dimension of every kind
 * that has one, where the model fixes it (decoding checks what it leaves free): a label list off
 * by one would otherwise name every class wrongly, or, for a YOLO output, misread its layout.
 */
function checkOutputs(where: string, card: ModelCard, outputs: readonly TensorInfo[]): void {
  const output = card.output;
  const labels = card.labels.length;
  const refuse = (problem: string | undefined): void => {
    if (problem) throw new UsageError(`${where}: ${problem}`);
  };
  if (output.kind === 'detector' && output.format === 'boxes-scores') {
    for (const field of ['boxes', 'scores', 'classes'] as const) if (output[field] !== undefined) pickTensor(where, `output.${field}`, output[field], outputs);
    const boxes = pickTensor(where, 'output.boxes', output.boxes, outputs);
    const side = boxes.shape[boxes.shape.length - 1];
    if (known(boxes) && (boxes.shape.length !== 3 || (fixed(side) && side !== 4))) {
      throw new UsageError(`${where}: output.boxes: ${boxes.name} is [${boxes.shape.join(',')}]; a boxes-scores detector's boxes are [1,N,4]`);
    }
    const scores = pickTensor(where, 'output.scores', output.scores, outputs);
    const classes = scores.shape[2];
    // [1,N] scores (with a classes tensor) have no class dimension; [1,N,1] is one class.
    if (scores.shape.length === 3 && fixed(classes) && classes > 1) refuse(labelsProblem(labels, classes, scores.name, scores.shape));
    return;
  }
  const tensor = pickTensor(where, 'output.name', output.name, outputs);
  const dims = tensor.shape;
  if (output.kind === 'classifier') {
    // Every dimension after the batch holds a class: [1,C], or [1,C,1,1] from a convolutional head.
    const rest = dims.slice(1);
    if (rest.every(fixed)) refuse(labelsProblem(labels, rest.reduce((a, b) => a * b, 1), tensor.name, dims));
  } else if (output.kind === 'detector') {
    if (known(tensor) && dims.length !== 3) throw new UsageError(`${where}: output.format: ${tensor.name} is [${dims.join(',')}]; a YOLO output is [1,4+C,N], [1,N,4+C] or [1,N,5+C]`);
    const [, a, b] = dims;
    if (labels === 0) return;
    const fits = a === 4 + labels || b === 4 + labels || b === 5 + labels;
    // The box count is free in many exports ([1,84,'anchors']): the fixed side must be the features.
    if (!fits && (fixed(a) || fixed(b))) refuse(yoloProblem(labels, tensor.name, dims));
  } else if (output.kind === 'segmenter' && known(tensor) && (dims.length < 2 || dims.length > 4)) {
    throw new UsageError(`${where}: output.name: ${tensor.name} is [${dims.join(',')}]; a segmenter's map is [1,1,H,W], [1,H,W,1], [1,H,W], [H,W] or, multi-class, [1,C,H,W] (NCHW) / [1,H,W,C] (NHWC)`);
  } else if (output.kind === 'segmenter' && dims.length === 4) {
    const channels = card.input.layout === 'NCHW' ? dims[1] : dims[3];
    if (fixed(channels) && channels > 1) {
      if (output.backgroundIndex >= channels) {
        throw new UsageError(`${where}: output.backgroundIndex: ${output.backgroundIndex} is beyond the ${channels} classes of ${tensor.name} [${dims.join(',')}] (${card.input.layout})`);
      }
      refuse(labelsProblem(labels, channels, tensor.name, dims));
    }
  }
}
