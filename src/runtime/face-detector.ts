/**
 * Face detection with the detectors @vladmandic/face-api ships (SSD MobileNetV1, Tiny Face
 * Detector), on its own TensorFlow.js build with the wasm backend. Shared by the tasks that
 * need faces; each worker loads a detector once.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { findModel, modelStatus } from './models.js';
import type { RawImage } from './image.js';

export type FaceModel = 'accurate' | 'fast';

export interface DetectedFace {
  /** Upright pixel coordinates of the image the detector was given. */
  box: { x: number; y: number; width: number; height: number };
  score: number;
}

export type Detector = (image: RawImage, minScore: number) => Promise<DetectedFace[]>;

const MODEL_IDS: Record<FaceModel, string> = { accurate: 'face-api-ssd-mobilenetv1', fast: 'face-api-tiny-face-detector' };

const require = createRequire(import.meta.url);

// face-api's node-wasm bundle loads its own (CommonJS) TensorFlow.js: the tensors must come from it.
type FaceApi = typeof import('@vladmandic/face-api');

let faceApi: Promise<FaceApi> | undefined;

function loadFaceApi(): Promise<FaceApi> {
  faceApi ??= (async () => {
    const api = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    const tf = api.tf as unknown as { setWasmPaths(prefix: string): void; setBackend(name: string): Promise<boolean>; ready(): Promise<void> };
    tf.setWasmPaths(`${path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}${path.sep}`);
    await tf.setBackend('wasm');
    await tf.ready();
    return api;
  })();
  return faceApi;
}

export async function createDetector(model: FaceModel): Promise<Detector> {
  const api = await loadFaceApi();
  const status = modelStatus(findModel(MODEL_IDS[model])!);
  if (!status.installed) throw new Error(status.reason);
  const folder = path.join(status.folder, 'model');
  const net = model === 'accurate' ? api.nets.ssdMobilenetv1 : api.nets.tinyFaceDetector;
  if (!net.isLoaded) await net.loadFromDisk(folder);
  const tf = api.tf as unknown as { tensor3d(data: Uint8Array, shape: [number, number, number], dtype: 'int32'): { dispose(): void } };

  return async (image, minScore) => {
    // The detectors want RGB: drop alpha (the caller flattened transparency already).
    const rgb = new Uint8Array(image.width * image.height * 3);
    for (let i = 0, j = 0; i < image.data.length; i += 4, j += 3) {
      rgb[j] = image.data[i]!;
      rgb[j + 1] = image.data[i + 1]!;
      rgb[j + 2] = image.data[i + 2]!;
    }
    const tensor = tf.tensor3d(rgb, [image.height, image.width, 3], 'int32');
    try {
      const options =
        model === 'accurate'
          ? new api.SsdMobilenetv1Options({ minConfidence: minScore, maxResults: 200 })
          : new api.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: minScore });
      const detections = await api.detectAllFaces(tensor as never, options);
      return detections.map((d) => ({ box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, score: d.score }));
    } finally {
      tensor.dispose();
    }
  };
}
