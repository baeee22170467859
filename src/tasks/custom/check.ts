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

function list(values: readonly TensorInfo[]): string {
  return values.map((v) => `${v.name} [${v.shape.join(',')}] ${v.type}`).join('; ');
}

/** The one tensor `name` refers to, or the only one when the card names none. */
export function pickTensor(where: string, field: string, name: string | undefined, tensors: readonly TensorInfo[]): TensorInfo {
  if (name !== undefined) {
    const found = tensors.find((t) => t.name === name);
    if (!found) throw new UsageError(`${where}: ${field}: the model has no tensor '${name}' (it has: ${list(tensors)})`);
    return found;
  }
  if (tensors.length !== 1) throw new UsageError(`${where}: ${field}: the model has ${tensors.length} of them, name one (${list(tensors)})`);
  return tensors[0]!;
}

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
    const output = card.output;
    if (output.kind === 'detector' && output.format === 'boxes-scores') {
      for (const field of ['boxes', 'scores', 'classes'] as const) if (output[field] !== undefined) pickTensor(where, `output.${field}`, output[field], outputs);
    } else {
      const tensor = pickTensor(where, 'output.name', output.name, outputs);
      if (output.kind === 'classifier' && card.labels.length > 0) {
        const classes = tensor.shape[tensor.shape.length - 1];
        if (fixed(classes) && classes !== card.labels.length) {
          throw new UsageError(`${where}: labels: ${card.labels.length} labels for a model with ${classes} classes (${tensor.name} [${tensor.shape.join(',')}])`);
        }
      }
    }
  } finally {
    await session.release();
  }
}
