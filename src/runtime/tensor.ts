/**
 * From an image to a model's input tensor, the way the model was trained to see it: the
 * upright image (EXIF orientation applied), alpha flattened onto white, sRGB, resized by
 * stretching, letterboxing or centre-cropping, channels in the model's order and layout, and
 * normalised as (pixel * scale - mean) / std. The placement it returns maps the model's input
 * pixels back to the upright original's.
 */
import { openImage, uprightSize } from './image.js';

export type Layout = 'NCHW' | 'NHWC';
export type ColourOrder = 'RGB' | 'BGR' | 'GRAY';
export type ResizeMode = 'letterbox' | 'stretch' | 'crop';

export interface InputSpec {
  width: number;
  height: number;
  layout: Layout;
  colour: ColourOrder;
  resize: ResizeMode;
  /** value = (pixel * scale - mean[c]) / std[c], with c in the model's channel order. */
  scale: number;
  mean: readonly number[];
  std: readonly number[];
  /** Grey level (0-255) of letterbox bars. */
  pad: number;
  type: 'float32' | 'uint8';
}

/** Model input pixel (x, y) = original pixel * scale + offset. */
export interface Placement {
  scaleX: number;
  scaleY: number;
  offsetX: number;
  offsetY: number;
  /** The upright original's size. */
  width: number;
  height: number;
}

export interface ModelInput {
  data: Float32Array | Uint8Array;
  dims: number[];
  placement: Placement;
}

export function channelsOf(colour: ColourOrder): number {
  return colour === 'GRAY' ? 1 : 3;
}

/** A point in model input pixels, in the upright original's pixels (clamped to the image). */
export function toOriginal(placement: Placement, x: number, y: number): [number, number] {
  const ox = (x - placement.offsetX) / placement.scaleX;
  const oy = (y - placement.offsetY) / placement.scaleY;
  return [Math.min(placement.width, Math.max(0, ox)), Math.min(placement.height, Math.max(0, oy))];
}

export async function imageToTensor(bytes: Buffer, spec: InputSpec): Promise<ModelInput> {
  const header = await openImage(bytes).metadata();
  const [width, height] = uprightSize(header.width ?? 0, header.height ?? 0, header.orientation);
  const { width: w, height: h } = spec;
  let pipeline = openImage(bytes).autoOrient().flatten({ background: '#ffffff' });
  let placement: Placement;
  if (spec.resize === 'stretch') {
    pipeline = pipeline.resize(w, h, { fit: 'fill' });
    placement = { scaleX: w / width, scaleY: h / height, offsetX: 0, offsetY: 0, width, height };
  } else {
    const scale = spec.resize === 'letterbox' ? Math.min(w / width, h / height) : Math.max(w / width, h / height);
    const scaledW = Math.max(1, Math.round(width * scale));
    const scaledH = Math.max(1, Math.round(height * scale));
    pipeline = pipeline.resize(scaledW, scaledH, { fit: 'fill' });
    if (spec.resize === 'letterbox') {
      const left = Math.floor((w - scaledW) / 2);
      const top = Math.floor((h - scaledH) / 2);
      const grey = spec.pad;
      pipeline = pipeline.extend({ left, top, right: w - scaledW - left, bottom: h - scaledH - top, background: { r: grey, g: grey, b: grey } });
      placement = { scaleX: scaledW / width, scaleY: scaledH / height, offsetX: left, offsetY: top, width, height };
    } else {
      const left = Math.floor((scaledW - w) / 2);
      const top = Math.floor((scaledH - h) / 2);
      pipeline = pipeline.extract({ left, top, width: w, height: h });
      placement = { scaleX: scaledW / width, scaleY: scaledH / height, offsetX: -left, offsetY: -top, width, height };
    }
  }
  const channels = channelsOf(spec.colour);
  pipeline = spec.colour === 'GRAY' ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb').removeAlpha();
  const pixels = await pipeline.raw({ depth: 'uchar' }).toBuffer();
  if (pixels.length !== w * h * channels) throw new Error(`expected ${w}x${h}x${channels} pixels, got ${pixels.length} bytes`);
  return { data: pack(pixels, spec, channels), dims: spec.layout === 'NCHW' ? [1, channels, h, w] : [1, h, w, channels], placement };
}

/** Interleaved RGB bytes into the model's channel order, layout and value range. */
function pack(pixels: Buffer, spec: InputSpec, channels: number): Float32Array | Uint8Array {
  const count = spec.width * spec.height;
  const order = spec.colour === 'BGR' ? [2, 1, 0] : channels === 3 ? [0, 1, 2] : [0];
  const out = spec.type === 'uint8' ? new Uint8Array(count * channels) : new Float32Array(count * channels);
  const planar = spec.layout === 'NCHW';
  for (let c = 0; c < channels; c++) {
    const source = order[c]!;
    const gain = spec.type === 'uint8' ? 1 : spec.scale / spec.std[c]!;
    const bias = spec.type === 'uint8' ? 0 : -spec.mean[c]! / spec.std[c]!;
    for (let i = 0; i < count; i++) {
      const value = pixels[i * channels + source]! * gain + bias;
      out[planar ? c * count + i : i * channels + c] = value;
    }
  }
  return out;
}
