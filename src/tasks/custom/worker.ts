/**
 * The worker of every model-card task: one ONNX session per worker thread, the card's own
 * preprocessing, and the decoding its kind calls for.
 */
import type { Handler, JobInput, JobOutput, WorkerContext } from '../contract.js';
import { imageSuffix } from '../../runtime/artifacts.js';
import { alphaAtFullSize, foregroundOf, renderMaskOutput, withinImageAlpha } from '../../runtime/mask.js';
import { loadOnnxSession, loadOrt } from '../../runtime/onnx.js';
import { imageToTensor, type ModelInput } from '../../runtime/tensor.js';
import type { ModelCard } from './card.js';
import { classify, detect, labelOf, segment, type OutputTensor } from './outputs.js';

type Decode = (outputs: Record<string, OutputTensor>, input: ModelInput, job: JobInput) => Promise<JobOutput>;

function decoderFor(card: ModelCard, outputNames: readonly string[]): Decode {
  const output = card.output;
  const size: [number, number] = [card.input.width, card.input.height];
  const only = (outputs: Record<string, OutputTensor>, name: string | undefined): OutputTensor => outputs[name ?? outputNames[0]!]!;
  switch (output.kind) {
    case 'classifier':
      return async (outputs, _input, job) => ({
        result: classify(only(outputs, output.name), output, card.labels, job.options.top as number, job.options['min-score'] as number, output.name ?? outputNames[0]!),
      });
    case 'detector':
      return async (outputs, input, job) => {
        const detections = detect(output, outputs, outputNames, card.labels, input.placement, size, job.options['min-score'] as number, job.options.nms as number);
        return { result: { count: detections.length, detections } };
      };
    case 'segmenter':
      return async (outputs, input, job) => {
        const { map, classShares } = segment(only(outputs, output.name), output.activation, output.backgroundIndex, card.input.layout, card.labels.length, output.name ?? outputNames[0]!);
        const { width, height } = input.placement;
        const alpha = await withinImageAlpha(job.bytes, await alphaAtFullSize(map, input.placement, card.input.width, card.input.height), width, height);
        const foreground = foregroundOf(alpha, width, height);
        const artefact = job.options.output as 'mask' | 'cutout' | 'none';
        const file = artefact === 'none' ? undefined : await job.artifacts.write(await renderMaskOutput(job.bytes, alpha, width, height, { kind: artefact }), imageSuffix(job.key, 'png'));
        const artifacts = file ? [file] : [];
        const classes = classShares?.map((share, index) => ({ label: labelOf(card.labels, index), share }));
        return { result: { foreground: foreground.share, box: foreground.box, width, height, ...(classes ? { classes } : {}) }, artifacts };
      };
    case 'embedder':
      return async (outputs) => {
        const vector = Float32Array.from(only(outputs, output.name).data);
        let norm = 0;
        for (const value of vector) norm += value * value;
        norm = Math.sqrt(norm);
        if (output.normalize && norm > 0) for (let i = 0; i < vector.length; i++) vector[i]! /= norm;
        return { result: { dims: vector.length, norm: Math.round(norm * 1000) / 1000 }, vector };
      };
  }
}

export async function createHandler(context: WorkerContext): Promise<Handler> {
  const card = context.config as ModelCard;
  const ort = await loadOrt();
  const session = await loadOnnxSession(card.model, context.threads);
  const inputName = card.input.name ?? session.inputNames[0]!;
  const decode = decoderFor(card, session.outputNames);
  return async (job) => {
    const input = await imageToTensor(job.bytes, card.input);
    const feeds = { [inputName]: new ort.Tensor(card.input.type, input.data, input.dims) };
    const results = await session.run(feeds);
    const outputs: Record<string, OutputTensor> = {};
    for (const [name, tensor] of Object.entries(results)) outputs[name] = { data: tensor.data as ArrayLike<number>, dims: tensor.dims };
    return decode(outputs, input, job);
  };
}
