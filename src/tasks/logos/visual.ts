/**
 * Logos found by their pictures: keypoints matched between each reference and the photo, then
 * every candidate placement checked against the picture itself.
 *
 * Why this way (measured on the composite set of bench/logo-set.js):
 * - Keypoints (AKAZE, OpenCV) are taken on gradient-magnitude images, not on grey levels: a
 *   transparent logo's outline is an edge whatever the background, while grey-level descriptors
 *   flip with it (a dark logo on a bright wall and on a dark coat look opposite).
 * - The reference is described flattened onto white, black and mid grey, for the same reason.
 * - Each match proposes a similarity transform from its two keypoints' sizes and angles; the
 *   proposals that most other matches agree with are refitted to those matches and verified:
 *   the photo's gradients, warped back into the reference's frame, must correlate
 *   with the reference's own outline. Wrong placements score below 0.25 on that check and right
 *   ones mostly 0.25-0.85, which is what keeps precision high with few matches. Proposals can be
 *   placed by a homography, an affine map or a similarity fitted to their supporting matches:
 *   a wordmark's points lie along a line, where a homography is degenerate, so every plausible
 *   one is tried and the best verified placement kept.
 */
import sharp from 'sharp';
import type { Box } from '../../runtime/boxes.js';
import { openImage } from '../../runtime/image.js';
import { gradientImage, gradientMagnitude, greyMat, type Mat, type OpenCv } from '../../runtime/opencv.js';

/** Longest side the references are described at. */
const REFERENCE_SIDE = 600;
/** Longest side the photo is searched at. */
const SCENE_SIDE = 1024;
const REFERENCE_THRESHOLD = 0.0003;
const SCENE_THRESHOLD = 0.0005;
/** Lowe's ratio: a match counts when clearly better than the second best. */
const RATIO = 0.9;
/** Proposals verified per reference, best supported first. */
const PROPOSALS = 20;
const MIN_SUPPORT = 3;
/** Candidates refined per reference (the best), and the score it needs to be worth it. */
const REFINED = 1;
const REFINE_FROM = 0.1;

interface Keypoint {
  x: number;
  y: number;
  size: number;
  angle: number;
}

export interface Reference {
  brand: string;
  file: string;
  width: number;
  height: number;
  keypoints: Keypoint[];
  descriptors: Mat;
  /** Where the reference has edges (its outline, or its grey-level edges when it has no alpha). */
  outline: Mat;
}

export interface Scene {
  /** Scene pixels per upright original pixel. */
  scale: number;
  keypoints: Keypoint[];
  descriptors: Mat;
  gradient: Mat;
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

export async function loadReference(cv: OpenCv, brand: string, file: string): Promise<Reference> {
  const { data, info } = await sharp(file).resize(REFERENCE_SIDE, REFERENCE_SIDE, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const pixels = width * height;
  const alpha = new Uint8Array(pixels);
  let transparent = false;
  for (let i = 0; i < pixels; i++) {
    alpha[i] = data[i * 4 + 3]!;
    if (alpha[i]! < 250) transparent = true;
  }
  const keypoints: Keypoint[] = [];
  const parts = new cv.MatVector();
  let outline: Mat | undefined;
  try {
    for (const background of transparent ? [255, 0, 128] : [-1]) {
      const grey = new Uint8Array(pixels);
      for (let i = 0; i < pixels; i++) {
        const a = alpha[i]! / 255;
        const luma = 0.299 * data[i * 4]! + 0.587 * data[i * 4 + 1]! + 0.114 * data[i * 4 + 2]!;
        grey[i] = Math.round(background < 0 ? luma : luma * a + background * (1 - a));
      }
      const mat = greyMat(cv, grey, width, height);
      try {
        const described = describe(cv, mat, REFERENCE_THRESHOLD);
        keypoints.push(...described.keypoints);
        parts.push_back(described.descriptors);
        described.descriptors.delete();
        if (background < 0) outline = gradientMagnitude(cv, mat);
      } finally {
        mat.delete();
      }
    }
    if (!outline) {
      const mat = greyMat(cv, alpha, width, height);
      outline = gradientMagnitude(cv, mat);
      mat.delete();
    }
    const descriptors = new cv.Mat();
    cv.vconcat(parts, descriptors);
    return { brand, file, width, height, keypoints, descriptors, outline };
  } finally {
    parts.delete();
  }
}

export function deleteReference(reference: Reference): void {
  reference.descriptors.delete();
  reference.outline.delete();
}

export async function loadScene(cv: OpenCv, bytes: Buffer, uprightWidth: number): Promise<Scene> {
  const { data, info } = await openImage(bytes)
    .autoOrient()
    .resize(SCENE_SIDE, SCENE_SIDE, { fit: 'inside', withoutEnlargement: true })
    .flatten({ background: '#ffffff' })
    .greyscale()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const grey = greyMat(cv, data, info.width, info.height);
  try {
    const { keypoints, descriptors } = describe(cv, grey, SCENE_THRESHOLD);
    return { scale: info.width / uprightWidth, keypoints, descriptors, gradient: gradientMagnitude(cv, grey) };
  } finally {
    grey.delete();
  }
}

export function deleteScene(scene: Scene): void {
  scene.descriptors.delete();
  scene.gradient.delete();
}

/** Pearson correlation of two float Mats of the same size. */
function correlation(a: Mat, b: Mat): number {
  const x = a.data32F as Float32Array;
  const y = b.data32F as Float32Array;
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < x.length; i++) {
    sx += x[i]!;
    sy += y[i]!;
    sxx += x[i]! * x[i]!;
    syy += y[i]! * y[i]!;
    sxy += x[i]! * y[i]!;
  }
  const n = x.length;
  const vx = sxx - (sx * sx) / n;
  const vy = syy - (sy * sy) / n;
  return vx > 0 && vy > 0 ? (sxy - (sx * sy) / n) / Math.sqrt(vx * vy) : 0;
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

/** How well the photo, warped back by `h`, shows the reference's outline (Pearson correlation). */
function verify(cv: OpenCv, reference: Reference, scene: Scene, h: number[]): number {
  const forward = cv.matFromArray(3, 3, cv.CV_64F, h);
  const inverse = new cv.Mat();
  const warped = new cv.Mat();
  try {
    if (cv.invert(forward, inverse) === 0) return 0;
    cv.warpPerspective(scene.gradient, warped, inverse, new cv.Size(reference.width, reference.height));
    return correlation(warped, reference.outline);
  } finally {
    forward.delete();
    inverse.delete();
    warped.delete();
  }
}

/** `h` after a similarity about the reference's centre: shift (dx, dy), log scale s, angle a (degrees). */
function adjust(h: number[], reference: Reference, dx: number, dy: number, s: number, a: number): number[] {
  const cx = reference.width / 2;
  const cy = reference.height / 2;
  const k = Math.exp(s);
  const cos = k * Math.cos((a * Math.PI) / 180);
  const sin = k * Math.sin((a * Math.PI) / 180);
  // T = translate(c + d) * rotate-scale * translate(-c), then h * T.
  const t = [cos, -sin, cx + dx - (cos * cx - sin * cy), sin, cos, cy + dy - (sin * cx + cos * cy), 0, 0, 1];
  const out = new Array<number>(9);
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) out[r * 3 + c] = h[r * 3]! * t[c]! + h[r * 3 + 1]! * t[3 + c]! + h[r * 3 + 2]! * t[6 + c]!;
  return out;
}

/**
 * Fine alignment by coordinate ascent on the verification score: a placement found from a dozen
 * keypoints is often a few pixels or a degree off, and thin edges a few pixels apart do not
 * correlate. Steps shrink from 4 px, 4 % and 2 degrees to a quarter of that.
 */
function refine(cv: OpenCv, reference: Reference, scene: Scene, h: number[], score: number): { score: number; h: number[] } {
  let best = { score, h, dx: 0, dy: 0, s: 0, a: 0 };
  for (const [px, scale, degrees] of [[4, 0.04, 2], [2, 0.02, 1], [1, 0.01, 0.5]] as const) {
    for (let round = 0; round < 4; round++) {
      let improved = false;
      const moves = [[px, 0, 0, 0], [-px, 0, 0, 0], [0, px, 0, 0], [0, -px, 0, 0], [0, 0, scale, 0], [0, 0, -scale, 0], [0, 0, 0, degrees], [0, 0, 0, -degrees]] as const;
      for (const [dx, dy, ds, da] of moves) {
        const trial = adjust(h, reference, best.dx + dx, best.dy + dy, best.s + ds, best.a + da);
        const value = verify(cv, reference, scene, trial);
        if (value > best.score) {
          best = { score: value, h: trial, dx: best.dx + dx, dy: best.dy + dy, s: best.s + ds, a: best.a + da };
          improved = true;
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
  // Every proposal placed every plausible way and scored; the best few refined, best kept.
  const candidates: { score: number; support: number; h: number[] }[] = [];
  for (const i of order) {
    for (const h of transformsFor(cv, proposals[i]!, supports[i]!)) candidates.push({ score: verify(cv, reference, scene, h), support: supports[i]!.length, h });
  }
  candidates.sort((a, b) => b.score - a.score);
  let best: { score: number; support: number; h: number[] } | null = null;
  for (const candidate of candidates.slice(0, REFINED)) {
    const refined = candidate.score >= REFINE_FROM ? refine(cv, reference, scene, candidate.h, candidate.score) : candidate;
    if (!best || refined.score > best.score) best = { ...refined, support: candidate.support };
  }
  if (!best || best.score < minScore) return null;
  const corners = [project(best.h, 0, 0), project(best.h, reference.width, 0), project(best.h, reference.width, reference.height), project(best.h, 0, reference.height)];
  const xs = corners.map(([x]) => x / scene.scale);
  const ys = corners.map(([, y]) => y / scene.scale);
  const round1 = (value: number): number => Math.round(value * 10) / 10;
  const [width, height] = [scene.gradient.cols / scene.scale, scene.gradient.rows / scene.scale];
  const x = Math.max(0, Math.min(...xs));
  const y = Math.max(0, Math.min(...ys));
  const right = Math.min(width, Math.max(...xs));
  const bottom = Math.min(height, Math.max(...ys));
  return {
    brand: reference.brand,
    score: Math.round(best.score * 1000) / 1000,
    support: best.support,
    box: { x: round1(x), y: round1(y), width: round1(right - x), height: round1(bottom - y) },
  };
}
