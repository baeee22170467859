/**
 * Logos found by their pictures: keypoints matched between each reference and the photo propose
 * placements, and every proposal is then aligned and checked against the picture itself.
 *
 * Why this way (measured on the composite set of bench/logo-set.js):
 * - Keypoints (AKAZE, OpenCV) are taken on gradient-magnitude images, not on grey levels: a
 *   transparent logo's outline is an edge whatever the background, while grey-level descriptors
 *   flip with it (a dark logo on a bright wall and on a dark coat look opposite). The reference is
 *   described flattened onto white, black and mid grey, for the same reason.
 * - Each match proposes a similarity transform from its two keypoints' sizes and angles; the
 *   proposals most other matches agree with are placed by a homography, an affine map or a
 *   similarity fitted to those matches (a wordmark's points lie along a line, where a homography
 *   is degenerate, so every plausible one is tried).
 * - Keypoints alone are a poor judge: on flat wordmarks in one font, a wrong brand shares letters
 *   and a right placement is often a few pixels or degrees off. So each placement is scored by how
 *   well the photo's edge orientations, warped into the reference's frame, agree with the
 *   reference's (a normalised correlation of orientation fields, see orientationField), and the
 *   best ones are aligned by coordinate ascent on that score: first at half size on broadly
 *   blurred fields (a wide basin for a rough start), then at full size on finer ones. Measured on
 *   the tuning set (seed 42), keypoint proposals contain a right placement for 35 of 40 logos;
 *   the old check (thin-edge correlation) ranked it first for 21, the aligned orientation score
 *   finds 31 with no false detection at the default threshold (worker.ts keeps one brand a place).
 */
import sharp from '../../runtime/sharp.js';
import type { Box } from '../../runtime/boxes.js';
import { openImage } from '../../runtime/image.js';
import { gradientImage, greyMat, orientationField, type Mat, type OpenCv } from '../../runtime/opencv.js';

/** Longest side the references are described at. */
const REFERENCE_SIDE = 600;
/** Longest side the photo is searched at. */
const SCENE_SIDE = 1024;
const REFERENCE_THRESHOLD = 0.0003;
const SCENE_THRESHOLD = 0.0003;
/** Lowe's ratio: a match counts when clearly better than the second best. */
const RATIO = 0.9;
/** Proposals placed per reference, best supported first. */
const PROPOSALS = 40;
const MIN_SUPPORT = 3;
/** The coarse stage: size relative to the fine one, and the blur of its fields (in its pixels). */
const COARSE = 0.5;
const COARSE_SIGMA = 3;
const FINE_SIGMA = 2;
/** Placements aligned at the coarse stage (best scored first); the best of them is finished fine. */
const ALIGNED = 5;

interface Keypoint {
  x: number;
  y: number;
  size: number;
  angle: number;
}

/** A reference's orientation field at one stage, with its energy (the norm's square). */
interface ReferenceField {
  field: Mat;
  energy: number;
  width: number;
  height: number;
}

export interface Reference {
  brand: string;
  file: string;
  width: number;
  height: number;
  keypoints: Keypoint[];
  descriptors: Mat;
  /** Its outline and inner edges as orientation fields, at full and coarse size. */
  fine: ReferenceField;
  coarse: ReferenceField;
}

export interface Scene {
  /** Scene pixels per upright original pixel. */
  scale: number;
  width: number;
  height: number;
  keypoints: Keypoint[];
  descriptors: Mat;
  fine: Mat;
  coarse: Mat;
}

export interface VisualMatch {
  brand: string;
  score: number;
  /** Matches that agree with the placement. */
  support: number;
  /** In upright original pixels. */
  box: Box;
}

function describe(cv: OpenCv, grey: Mat, threshold: number): { keypoints: Keypoint[]; descriptors: Mat } {
  const detector = new cv.AKAZE();
  const points = new cv.KeyPointVector();
  const descriptors = new cv.Mat();
  const noMask = new cv.Mat();
  const edges = gradientImage(cv, grey);
  try {
    detector.setThreshold(threshold);
    detector.detectAndCompute(edges, noMask, points, descriptors);
    const keypoints: Keypoint[] = [];
    for (let i = 0; i < points.size(); i++) {
      const point = points.get(i);
      keypoints.push({ x: point.pt.x, y: point.pt.y, size: point.size, angle: point.angle });
    }
    return { keypoints, descriptors };
  } finally {
    detector.delete();
    points.delete();
    noMask.delete();
    edges.delete();
  }
}

/** Sum of two orientation fields (the outline and the inner edges), with its energy. */
function referenceField(cv: OpenCv, alpha: Mat, grey: Mat, sigma: number): ReferenceField {
  const field = orientationField(cv, alpha, sigma);
  const inner = orientationField(cv, grey, sigma);
  const values = field.data32F as Float32Array;
  const add = inner.data32F as Float32Array;
  let energy = 0;
  for (let i = 0; i < values.length; i++) {
    values[i] = values[i]! + add[i]!;
    energy += values[i]! * values[i]!;
  }
  inner.delete();
  return { field, energy, width: alpha.cols, height: alpha.rows };
}

function halve(cv: OpenCv, mat: Mat): Mat {
  const out = new cv.Mat();
  cv.resize(mat, out, new cv.Size(Math.max(1, Math.round(mat.cols * COARSE)), Math.max(1, Math.round(mat.rows * COARSE))), 0, 0, cv.INTER_AREA);
  return out;
}

export async function loadReference(cv: OpenCv, brand: string, file: string): Promise<Reference> {
  const { data, info } = await sharp(file).resize(REFERENCE_SIDE, REFERENCE_SIDE, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const pixels = width * height;
  const alpha = new Uint8Array(pixels);
  const luma = new Float32Array(pixels);
  let transparent = false;
  for (let i = 0; i < pixels; i++) {
    alpha[i] = data[i * 4 + 3]!;
    luma[i] = 0.299 * data[i * 4]! + 0.587 * data[i * 4 + 1]! + 0.114 * data[i * 4 + 2]!;
    if (alpha[i]! < 250) transparent = true;
  }
  const flattened = (background: number): Uint8Array => {
    const grey = new Uint8Array(pixels);
    for (let i = 0; i < pixels; i++) grey[i] = Math.round(luma[i]! * (alpha[i]! / 255) + background * (1 - alpha[i]! / 255));
    return grey;
  };
  const keypoints: Keypoint[] = [];
  const parts = new cv.MatVector();
  const mats: Mat[] = [];
  try {
    for (const background of transparent ? [255, 0, 128] : [255]) {
      const mat = greyMat(cv, flattened(background), width, height);
      mats.push(mat);
      const described = describe(cv, mat, REFERENCE_THRESHOLD);
      keypoints.push(...described.keypoints);
      parts.push_back(described.descriptors);
      described.descriptors.delete();
    }
    const descriptors = new cv.Mat();
    cv.vconcat(parts, descriptors);
    // Outline (alpha) plus inner edges (on white); an opaque reference has only the latter.
    const outline = greyMat(cv, transparent ? alpha : new Uint8Array(pixels), width, height);
    const onWhite = mats[0]!;
    const smallOutline = halve(cv, outline);
    const smallWhite = halve(cv, onWhite);
    mats.push(outline, smallOutline, smallWhite);
    const fine = referenceField(cv, outline, onWhite, FINE_SIGMA);
    const coarse = referenceField(cv, smallOutline, smallWhite, COARSE_SIGMA);
    return { brand, file, width, height, keypoints, descriptors, fine, coarse };
  } finally {
    parts.delete();
    for (const mat of mats) mat.delete();
  }
}

/**
 * Below this many pixels on a side (as searched, fitted inside SCENE_SIDE) a photo cannot show a
 * recognisable logo, and OpenCV's pyramids fail outright on a side of 1 px (a 10000x10 strip
 * becomes 1024x1): such an image is not searched by picture.
 */
const MIN_SCENE_SIDE = 16;

/** The photo as searched; undefined when it is too small to search (MIN_SCENE_SIDE). */
export async function loadScene(cv: OpenCv, bytes: Buffer, uprightWidth: number): Promise<Scene | undefined> {
  const { data, info } = await openImage(bytes)
    .autoOrient()
    .resize(SCENE_SIDE, SCENE_SIDE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (Math.min(info.width, info.height) < MIN_SCENE_SIDE) return undefined;
  const grey = greyMat(cv, data, info.width, info.height);
  const small = halve(cv, grey);
  try {
    const { keypoints, descriptors } = describe(cv, grey, SCENE_THRESHOLD);
    return {
      scale: info.width / uprightWidth,
      width: info.width,
      height: info.height,
      keypoints,
      descriptors,
      fine: orientationField(cv, grey, FINE_SIGMA),
      coarse: orientationField(cv, small, COARSE_SIGMA),
    };
  } finally {
    grey.delete();
    small.delete();
  }
}

export function deleteScene(scene: Scene): void {
  scene.descriptors.delete();
  scene.fine.delete();
  scene.coarse.delete();
}

type Pair = [Keypoint, Keypoint];

interface Proposal {
  cos: number;
  sin: number;
  tx: number;
  ty: number;
  scale: number;
}

function propose([r, s]: Pair): Proposal {
  const scale = s.size / r.size;
  const theta = ((s.angle - r.angle) * Math.PI) / 180;
  const cos = scale * Math.cos(theta);
  const sin = scale * Math.sin(theta);
  return { cos, sin, tx: s.x - (cos * r.x - sin * r.y), ty: s.y - (sin * r.x + cos * r.y), scale };
}

function matches(cv: OpenCv, matcher: Mat, reference: Reference, scene: Scene): Pair[] {
  const knn = new cv.DMatchVectorVector();
  try {
    matcher.knnMatch(reference.descriptors, scene.descriptors, knn, 2);
    const pairs: Pair[] = [];
    for (let i = 0; i < knn.size(); i++) {
      const candidates = knn.get(i);
      if (candidates.size() < 2) continue;
      const best = candidates.get(0);
      if (best.distance < RATIO * candidates.get(1).distance) pairs.push([reference.keypoints[best.queryIdx]!, scene.keypoints[best.trainIdx]!]);
    }
    return pairs;
  } finally {
    knn.delete();
  }
}

/**
 * Least-squares similarity (scale, rotation, shift) taking the reference points of `support` to
 * their scene points: well defined even when the points lie on a line, as a wordmark's do.
 */
function similarityFit(support: Pair[]): number[] {
  const n = support.length;
  let rx = 0, ry = 0, sx = 0, sy = 0;
  for (const [r, s] of support) {
    rx += r.x / n; ry += r.y / n; sx += s.x / n; sy += s.y / n;
  }
  let a = 0, b = 0, norm = 0;
  for (const [r, s] of support) {
    const px = r.x - rx, py = r.y - ry, qx = s.x - sx, qy = s.y - sy;
    a += px * qx + py * qy;
    b += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (norm === 0) return [];
  const cos = a / norm, sin = b / norm;
  return [cos, -sin, sx - (cos * rx - sin * ry), sin, cos, sy - (sin * rx + cos * ry), 0, 0, 1];
}

/**
 * Least-squares affine map (adds shear and unequal scales, the look of a moderate perspective),
 * or nothing when the points are too close to a line to fix one.
 */
function affineFit(support: Pair[]): number[] {
  const n = support.length;
  if (n < 6) return [];
  let mx = 0, my = 0;
  for (const [r] of support) {
    mx += r.x / n; my += r.y / n;
  }
  let sxx = 0, sxy = 0, syy = 0;
  for (const [r] of support) {
    const x = r.x - mx, y = r.y - my;
    sxx += x * x; sxy += x * y; syy += y * y;
  }
  // The spread across the points' main direction must be real, or the fit is a guess.
  const trace = sxx + syy;
  const minor = trace / 2 - Math.sqrt((trace * trace) / 4 - (sxx * syy - sxy * sxy));
  if (minor < 0.02 * trace) return [];
  const det = sxx * syy - sxy * sxy;
  const row = (pick: (s: Keypoint) => number): [number, number, number] => {
    let bx = 0, by = 0, mean = 0;
    for (const [r, s] of support) {
      bx += (r.x - mx) * pick(s); by += (r.y - my) * pick(s); mean += pick(s) / n;
    }
    const p = (syy * bx - sxy * by) / det;
    const q = (sxx * by - sxy * bx) / det;
    return [p, q, mean - p * mx - q * my];
  };
  return [...row((s) => s.x), ...row((s) => s.y), 0, 0, 1];
}

/**
 * A homography from the support (RANSAC), when it is plausible: points along one line (a
 * wordmark) give degenerate ones, with a scale far from the matches' or a strong perspective.
 */
function homographyFit(cv: OpenCv, proposal: Proposal, support: Pair[]): number[] {
  if (support.length < 5) return [];
  const from = cv.matFromArray(support.length, 1, cv.CV_32FC2, support.flatMap(([r]) => [r.x, r.y]));
  const to = cv.matFromArray(support.length, 1, cv.CV_32FC2, support.flatMap(([, s]) => [s.x, s.y]));
  const found = cv.findHomography(from, to, cv.RANSAC, 8);
  from.delete();
  to.delete();
  const h = found.empty() ? [] : Array.from(found.data64F as Float64Array);
  found.delete();
  if (h.length !== 9) return [];
  const scale = Math.sqrt(Math.abs(h[0]! * h[4]! - h[1]! * h[3]!));
  const plausible = scale > proposal.scale / 2 && scale < proposal.scale * 2 && Math.abs(h[6]!) < 0.002 && Math.abs(h[7]!) < 0.002;
  return plausible ? h : [];
}

/** Transforms worth verifying for a proposal: fits to its support, then the proposal itself. */
function transformsFor(cv: OpenCv, proposal: Proposal, support: Pair[]): number[][] {
  const own = [proposal.cos, -proposal.sin, proposal.tx, proposal.sin, proposal.cos, proposal.ty, 0, 0, 1];
  return [homographyFit(cv, proposal, support), affineFit(support), similarityFit(support), own].filter((h) => h.length === 9);
}

/**
 * How well the photo's edges, warped back into the reference's frame by `h`, agree with the
 * reference's: the cosine of their orientation fields. Edges the reference lacks (clutter behind
 * or inside the placement) lower it, as do missing ones.
 */
function agreement(cv: OpenCv, reference: ReferenceField, scene: Mat, h: number[]): number {
  const forward = cv.matFromArray(3, 3, cv.CV_64F, h);
  const inverse = new cv.Mat();
  const warped = new cv.Mat();
  try {
    if (cv.invert(forward, inverse) === 0) return 0;
    cv.warpPerspective(scene, warped, inverse, new cv.Size(reference.width, reference.height));
    const a = reference.field.data32F as Float32Array;
    const b = warped.data32F as Float32Array;
    let dot = 0;
    let energy = 0;
    for (let i = 0; i < a.length; i++) {
      dot += a[i]! * b[i]!;
      energy += b[i]! * b[i]!;
    }
    return energy > 0 ? dot / Math.sqrt(reference.energy * energy) : 0;
  } finally {
    forward.delete();
    inverse.delete();
    warped.delete();
  }
}

/** `h` (reference to scene pixels) for the coarse stage's sizes, and back. */
function toCoarse(h: number[], reference: Reference, scene: Scene): number[] {
  const r = reference.coarse.width / reference.width;
  const s = scene.coarse.cols / scene.width;
  return [h[0]! * s / r, h[1]! * s / r, h[2]! * s, h[3]! * s / r, h[4]! * s / r, h[5]! * s, h[6]! / r, h[7]! / r, h[8]!];
}

function toFine(h: number[], reference: Reference, scene: Scene): number[] {
  const r = reference.coarse.width / reference.width;
  const s = scene.coarse.cols / scene.width;
  return [h[0]! * r / s, h[1]! * r / s, h[2]! / s, h[3]! * r / s, h[4]! * r / s, h[5]! / s, h[6]! * r, h[7]! * r, h[8]!];
}

/** A small change of placement, about the reference's centre: shift, log scale, angle (degrees), shear, log aspect. */
type Move = [dx: number, dy: number, scale: number, angle: number, shear: number, aspect: number];

/** `h` after `move`: h * translate(c + d) * rotate-scale * shear-aspect * translate(-c). */
function adjust(h: number[], reference: ReferenceField, [dx, dy, s, a, shear, aspect]: Move): number[] {
  const cx = reference.width / 2;
  const cy = reference.height / 2;
  const k = Math.exp(s);
  const cos = k * Math.cos((a * Math.PI) / 180);
  const sin = k * Math.sin((a * Math.PI) / 180);
  const e = Math.exp(aspect);
  const m = [cos * e, cos * shear - sin / e, sin * e, sin * shear + cos / e];
  const t = [m[0]!, m[1]!, cx + dx - (m[0]! * cx + m[1]! * cy), m[2]!, m[3]!, cy + dy - (m[2]! * cx + m[3]! * cy), 0, 0, 1];
  const out = new Array<number>(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[r * 3 + c] = h[r * 3]! * t[c]! + h[r * 3 + 1]! * t[3 + c]! + h[r * 3 + 2]! * t[6 + c]!;
  return out;
}

/** Step sizes of the alignment: pixels, log scale, degrees, shear (log aspect as log scale). */
type Steps = [pixels: number, scale: number, degrees: number, shear: number];
const COARSE_STEPS: Steps[] = [[8, 0.1, 6, 0.1], [4, 0.05, 3, 0.05], [2, 0.025, 1.5, 0.025]];
const FINE_STEPS: Steps[] = [[2, 0.015, 1, 0.015]];

/** Coordinate ascent on the agreement: each step size until no move improves it. */
function align(cv: OpenCv, reference: ReferenceField, scene: Mat, h: number[], steps: Steps[]): { score: number; h: number[] } {
  let best = { score: agreement(cv, reference, scene, h), h, at: [0, 0, 0, 0, 0, 0] as Move };
  for (const [px, scale, degrees, shear] of steps) {
    for (let round = 0; round < 4; round++) {
      let improved = false;
      for (let axis = 0; axis < 6; axis++) {
        const step = [px, px, scale, degrees, shear, scale][axis]!;
        for (const sign of [1, -1]) {
          const at = [...best.at] as Move;
          at[axis] += sign * step;
          const trial = adjust(h, reference, at);
          const value = agreement(cv, reference, scene, trial);
          if (value > best.score) {
            best = { score: value, h: trial, at };
            improved = true;
          }
        }
      }
      if (!improved) break;
    }
  }
  return { score: best.score, h: best.h };
}

function project(h: number[], x: number, y: number): [number, number] {
  const w = h[6]! * x + h[7]! * y + h[8]!;
  return [(h[0]! * x + h[1]! * y + h[2]!) / w, (h[3]! * x + h[4]! * y + h[5]!) / w];
}

/** The reference's best verified placement in the scene, or null. */
export function findReference(cv: OpenCv, matcher: Mat, reference: Reference, scene: Scene, minScore: number): VisualMatch | null {
  const pairs = matches(cv, matcher, reference, scene);
  if (pairs.length < MIN_SUPPORT) return null;
  const proposals = pairs.map(propose);
  const side = Math.max(reference.width, reference.height);
  const supports = proposals.map((p) =>
    p.scale > 0.05 && p.scale < 4
      ? pairs.filter(([r, s]) => Math.hypot(p.cos * r.x - p.sin * r.y + p.tx - s.x, p.sin * r.x + p.cos * r.y + p.ty - s.y) < Math.max(6, 0.08 * p.scale * side))
      : [],
  );
  const order = proposals
    .map((_, i) => i)
    .filter((i) => supports[i]!.length >= MIN_SUPPORT)
    .sort((a, b) => supports[b]!.length - supports[a]!.length)
    .slice(0, PROPOSALS);
  // Every proposal placed every plausible way and scored at the coarse stage; the best few
  // aligned there, and the best of those finished at full size.
  const candidates: { score: number; support: number; h: number[] }[] = [];
  for (const i of order) {
    for (const h of transformsFor(cv, proposals[i]!, supports[i]!)) {
      const coarse = toCoarse(h, reference, scene);
      candidates.push({ score: agreement(cv, reference.coarse, scene.coarse, coarse), support: supports[i]!.length, h: coarse });
    }
  }
  candidates.sort((a, b) => b.score - a.score);
  let coarse: { score: number; support: number; h: number[] } | null = null;
  for (const candidate of candidates.slice(0, ALIGNED)) {
    const aligned = align(cv, reference.coarse, scene.coarse, candidate.h, COARSE_STEPS);
    if (!coarse || aligned.score > coarse.score) coarse = { ...aligned, support: candidate.support };
  }
  if (!coarse) return null;
  const best = align(cv, reference.fine, scene.fine, toFine(coarse.h, reference, scene), FINE_STEPS);
  if (best.score < minScore) return null;
  const corners = [project(best.h, 0, 0), project(best.h, reference.width, 0), project(best.h, reference.width, reference.height), project(best.h, 0, reference.height)];
  const xs = corners.map(([x]) => x / scene.scale);
  const ys = corners.map(([, y]) => y / scene.scale);
  const round1 = (value: number): number => Math.round(value * 10) / 10;
  const [width, height] = [scene.width / scene.scale, scene.height / scene.scale];
  const x = Math.max(0, Math.min(...xs));
  const y = Math.max(0, Math.min(...ys));
  const right = Math.min(width, Math.max(...xs));
  const bottom = Math.min(height, Math.max(...ys));
  return {
    brand: reference.brand,
    score: Math.round(best.score * 1000) / 1000,
    support: coarse.support,
    box: { x: round1(x), y: round1(y), width: round1(right - x), height: round1(bottom - y) },
  };
}
