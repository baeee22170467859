/**
 * OpenCV (the official WebAssembly build, from @techstark/opencv-js, Apache-2.0): feature
 * detection, descriptor matching, homographies and warps for the tasks that match pictures
 * against references (logos). Loaded on first use inside a worker; its Mats live in wasm memory
 * and must be deleted by whoever creates them.
 */
import { createRequire } from 'node:module';
import { quietly } from './tfjs.js';

// The wasm build's own typings describe a browser global; we use a small, explicit surface.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OpenCv = any;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Mat = any;

const require = createRequire(import.meta.url);
let ready: Promise<OpenCv> | undefined;

export function loadOpenCv(): Promise<OpenCv> {
  ready ??= quietly(async () => {
    const module = require('@techstark/opencv-js') as OpenCv;
    if (!module.Mat) {
      await new Promise<void>((resolve) => {
        module.onRuntimeInitialized = resolve;
      });
    }
    // Emscripten modules are thenables: returned from an async function as they are, promise
    // resolution would call their `then` again and again and never settle.
    delete module.then;
    return module;
  });
  return ready;
}

/** A single-channel 8-bit Mat holding `data` (width x height bytes). */
export function greyMat(cv: OpenCv, data: Uint8Array, width: number, height: number): Mat {
  const mat = new cv.Mat(height, width, cv.CV_8UC1);
  mat.data.set(data);
  return mat;
}

/** Gradient magnitude (Sobel, 3x3) as 32-bit floats: edges whatever their polarity. */
export function gradientMagnitude(cv: OpenCv, grey: Mat): Mat {
  const gx = new cv.Mat();
  const gy = new cv.Mat();
  const magnitude = new cv.Mat();
  try {
    cv.Sobel(grey, gx, cv.CV_32F, 1, 0, 3);
    cv.Sobel(grey, gy, cv.CV_32F, 0, 1, 3);
    cv.magnitude(gx, gy, magnitude);
    return magnitude;
  } finally {
    gx.delete();
    gy.delete();
  }
}

/** The gradient magnitude stretched to 0-255 bytes, for detectors that take 8-bit images. */
export function gradientImage(cv: OpenCv, grey: Mat): Mat {
  const magnitude = gradientMagnitude(cv, grey);
  const out = new cv.Mat();
  try {
    cv.normalize(magnitude, magnitude, 0, 255, cv.NORM_MINMAX);
    magnitude.convertTo(out, cv.CV_8U);
    return out;
  } finally {
    magnitude.delete();
  }
}
