/**
 * objects: CenterNet (MobileNetV3) from @vladmandic/human, preprocessed as the model was
 * converted: the whole upright image stretched to 512x512, RGB 0-255. Its 100 candidates
 * ([x1, y1, x2, y2, score, class] in input pixels) go through per-class NMS and back to the
 * upright original's pixels.
 */
import type { Handler, JobInput } from '../contract.js';
import { openImage, uprightSize } from '../../runtime/image.js';
import { modelFile } from '../../runtime/models.js';
import { loadGraphModelFiles, loadTfjs } from '../../runtime/tfjs.js';
import { nonMaxSuppression, type Box } from '../../runtime/boxes.js';
import { COCO_CLASSES } from './coco.js';

const SIZE = 512;
const NMS_IOU = 0.5;

export interface DetectedObject {
  label: string;
  score: number;
  box: Box;
}

export interface ObjectsResult {
  objects: DetectedObject[];
  /** How many of each class, for filtering and labels. */
  counts: Record<string, number>;
  width: number;
  height: number;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

export async function createHandler(): Promise<Handler> {
  const tf = await loadTfjs();
  const net = await loadGraphModelFiles(modelFile('human-centernet', 'models/centernet.json'));

  return async (job: JobInput) => {
    const minScore = job.options['min-score'] as number;
    const header = await openImage(job.bytes).metadata();
    const [width, height] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
    const pixels = await openImage(job.bytes)
      .autoOrient()
      .resize(SIZE, SIZE, { fit: 'fill' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer();
    const input = tf.tidy(() => tf.tensor4d(pixels, [1, SIZE, SIZE, 3], 'int32').toFloat());
    const output = net.execute(input, ['tower_0/detections']) as import('@tensorflow/tfjs').Tensor;
    input.dispose();
    const rows = (await output.array()) as number[][][];
    output.dispose();

    const sx = width / SIZE;
    const sy = height / SIZE;
    const candidates = rows[0]!
      .filter(([, , , , score, index]) => score! >= minScore && Number.isInteger(index) && COCO_CLASSES[index!] !== undefined)
      .map(([x1, y1, x2, y2, score, index]) => ({
        label: COCO_CLASSES[index!]!,
        score: Math.round(score! * 1000) / 1000,
        box: { x: round1(x1! * sx), y: round1(y1! * sy), width: round1((x2! - x1!) * sx), height: round1((y2! - y1!) * sy) },
      }));
    const objects = [...new Set(candidates.map((c) => c.label))]
      .flatMap((label) => nonMaxSuppression(candidates.filter((c) => c.label === label), NMS_IOU))
      .sort((a, b) => b.score - a.score);
    const counts: Record<string, number> = {};
    for (const object of objects) counts[object.label] = (counts[object.label] ?? 0) + 1;
    const result: ObjectsResult = { objects, counts, width, height };
    return { result };
  };
}
