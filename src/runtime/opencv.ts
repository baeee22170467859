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

/**
 * Edge orientation as a two-channel float Mat: m^0.5 * (cos 2t, sin 2t) for a gradient of
 * magnitude m and angle t, blurred by `sigma`. Doubling the angle makes an edge the same whichever
 * side is brighter (a logo's outline flips polarity with its background); the square root keeps a
 * few strong edges from outweighing the shape; the blur gives a placement a few pixels off
 * partial credit instead of none.
 */
export function orientationField(cv: OpenCv, grey: Mat, sigma: number): Mat {
  const gx = new cv.Mat();
  const gy = new cv.Mat();
  const field = new cv.Mat(grey.rows, grey.cols, cv.CV_32FC2);
  try {
    cv.Sobel(grey, gx, cv.CV_32F, 1, 0, 3);
    cv.Sobel(grey, gy, cv.CV_32F, 0, 1, 3);
    const x = gx.data32F as Float32Array;
    const y = gy.data32F as Float32Array;
    const out = field.data32F as Float32Array;
    for (let i = 0; i < x.length; i++) {
      const squared = x[i]! * x[i]! + y[i]! * y[i]!;
      const k = squared > 1e-6 ? 1 / Math.pow(squared, 0.75) : 0;
      out[2 * i] = (x[i]! * x[i]! - y[i]! * y[i]!) * k;
      out[2 * i + 1] = 2 * x[i]! * y[i]! * k;
    }
    if (sigma > 0) cv.GaussianBlur(field, field, new cv.Size(0, 0), sigma);
    return field;
  } finally {
    gx.delete();
    gy.delete();
  }
}

/** The gradient magnitude (Sobel, 3x3) stretched to 0-255 bytes, for detectors that take 8-bit images. */
export function gradientImage(cv: OpenCv, grey: Mat): Mat {
  const gx = new cv.Mat();
  const gy = new cv.Mat();
  const magnitude = new cv.Mat();
  const out = new cv.Mat();
  try {
    cv.Sobel(grey, gx, cv.CV_32F, 1, 0, 3);
    cv.Sobel(grey, gy, cv.CV_32F, 0, 1, 3);
    cv.magnitude(gx, gy, magnitude);
    cv.normalize(magnitude, magnitude, 0, 255, cv.NORM_MINMAX);
    magnitude.convertTo(out, cv.CV_8U);
    return out;
  } finally {
    gx.delete();
    gy.delete();
    magnitude.delete();
  }
}
