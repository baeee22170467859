/**
 * faces: detection on the upright image scaled to the model's own input side (at most
 * --faces-max-side); boxes are mapped back to the upright original's pixels. Detections down to REPORT_FLOOR are kept with their scores, so
 * that tasks which must err towards privacy (anonymize) can use more than `count` counts.
 */
import type { Handler, JobInput, WorkerContext } from '../contract.js';
import { decodeUprightRgba, openImage, uprightSize } from '../../runtime/image.js';
import { createDetector, MODEL_SIDE, type Detector, type FaceModel } from '../../runtime/face-detector.js';

/** The lowest score reported at all. */
const REPORT_FLOOR = 0.2;

export interface Face {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  /** With the fast model: eyes, nose tip, mouth and ears, as [x, y] in upright original pixels. */
  landmarks?: [number, number][];
}

export interface FacesResult {
  /** Faces scoring at least --faces-min-score. */
  count: number;
  /** Every detection from REPORT_FLOOR up, best first. */
  faces: Face[];
  model: FaceModel;
  width: number;
  height: number;
}

const round1 = (value: number): number => Math.round(value * 10) / 10;

export async function createHandler(_context: WorkerContext): Promise<Handler> {
  const detectors = new Map<FaceModel, Detector>();
  return async (job: JobInput) => {
    const options = job.options as { model: FaceModel; 'min-score': number; 'max-side': number };
    let detect = detectors.get(options.model);
    if (!detect) {
      detect = await createDetector(options.model);
      detectors.set(options.model, detect);
    }
    const header = await openImage(job.bytes).metadata();
    const [width, height] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
    const image = await decodeUprightRgba(job.bytes, Math.min(options['max-side'], MODEL_SIDE[options.model]));
    const scale = width / image.width;
    const detections = await detect(image, Math.min(REPORT_FLOOR, options['min-score']));
    const faces = detections
      .map((d): Face => ({
        box: { x: round1(d.box.x * scale), y: round1(d.box.y * scale), width: round1(d.box.width * scale), height: round1(d.box.height * scale) },
        score: Math.round(d.score * 1000) / 1000,
        ...(d.landmarks ? { landmarks: d.landmarks.map(([x, y]) => [round1(x * scale), round1(y * scale)] as [number, number]) } : {}),
      }))
      .sort((a, b) => b.score - a.score);
    const result: FacesResult = { count: faces.filter((f) => f.score >= options['min-score']).length, faces, model: options.model, width, height };
    return { result };
  };
}
