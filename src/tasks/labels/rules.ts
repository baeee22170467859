/**
 * Labels from what other tasks measured, each with a confidence (0-1) and its source. Model
 * labels carry the model's score; properties measured on pixels by a stated rule carry 1.
 */
import type { DominantColour } from '../../runtime/colour.js';
import type { FacesResult } from '../faces/worker.js';
import type { NsfwResult } from '../nsfw/worker.js';
import type { ObjectsResult } from '../objects/worker.js';
import type { OcrResult } from '../ocr/worker.js';

export interface Label {
  name: string;
  confidence: number;
  /** The task that found it ('objects', 'faces', 'nsfw', 'ocr', 'meta', a classifier the user brings), or 'pixels' or 'examples'. */
  source: string;
  /**
   * Every source that found this name, the strongest first (so `sources[0]` is `source`): a
   * name is one label, but a consumer asking "did the objects detector see a person?" or "did
   * the examples give this label?" still gets the answer without the weaker confidences.
   */
  sources: string[];
}

/** A label as a rule proposes it, before the candidates of one name are merged. */
export type Candidate = Omit<Label, 'sources'>;

/** A classifier's classes (a model card's `{ top, classes }`), by the task that computed them. */
export type ClassifierResults = Record<string, { classes: { label: string; score: number }[] }>;

/** The part of meta's result that labels read. */
export interface MetaFacts {
  width: number;
  height: number;
  colourSpace: string;
  colours: DominantColour[];
  brightness: number;
  contrast: number;
  blurry: boolean | null;
}

/** Measured here on a small decode: what meta does not report. */
export interface PixelFacts {
  /** Share of pixels that are not fully opaque. */
  transparent: number;
  /** Mean chroma (max - min of R, G, B, 0-255) of the opaque pixels; null when none is opaque. */
  chroma: number | null;
  /** Mean HSV value (max of R, G, B) / 255 of the opaque pixels: pure red has low luma but is not dark. */
  value: number | null;
}

export interface LabelInputs {
  meta: MetaFacts;
  nsfw: NsfwResult;
  faces: FacesResult;
  objects: ObjectsResult;
  /** Only when the run included ocr and it read this image. */
  ocr?: OcrResult;
  pixels: PixelFacts;
  /** Classifiers the run included (tasks providing 'classes'), their classes above their own minimum score. */
  classifiers: ClassifierResults;
}

// The rules' thresholds, in the units of meta's measurements.
const BRIGHT = 0.7;
const DARK = 0.25;
const DARK_VALUE = 0.4;
/** RMS contrast of luma (0-0.5); ordinary photos measure 0.15-0.3. */
const LOW_CONTRAST = 0.08;
/** A dominant colour names the image from this share of its pixels. */
const COLOUR_SHARE = 0.15;
/** Mean chroma under this is grey to the eye (JPEG noise alone gives 1-3). */
const GREY_CHROMA = 6;
const TRANSPARENT_SHARE = 0.01;
const SQUARE_RATIO = 1.05;
/** Size classes by megapixels (upright width x height). */
const SIZES: readonly [string, number][] = [['tiny', 0.1], ['small', 1], ['medium', 4], ['large', 12], ['very large', Infinity]];

const round = (value: number): number => Math.round(value * 1000) / 1000;

/**
 * One label per name, with the strongest evidence: its confidence and source are the best
 * candidate's, and `sources` lists every source that proposed the name, strongest first. A list
 * holding `person` twice (faces 0.99, objects 0.53) would make every consumer merge it, and
 * would let a weak duplicate look like a second finding.
 */
export function mergeByName(candidates: readonly Candidate[]): Label[] {
  const byName = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    const list = byName.get(candidate.name);
    if (list) list.push(candidate);
    else byName.set(candidate.name, [candidate]);
  }
  const labels: Label[] = [];
  for (const [name, list] of byName) {
    // Array sort is stable: equal confidences keep the order the rules proposed them in.
    const ranked = [...list].sort((a, b) => b.confidence - a.confidence);
    const best = ranked[0]!;
    labels.push({ name, confidence: round(best.confidence), source: best.source, sources: [...new Set(ranked.map((candidate) => candidate.source))] });
  }
  return labels.sort((a, b) => b.confidence - a.confidence || a.name.localeCompare(b.name));
}

/** What the rules propose: one name may come from several sources (mergeByName makes it one label). */
export function candidatesFrom(inputs: LabelInputs): Candidate[] {
  const { meta, nsfw, faces, objects, ocr, pixels, classifiers } = inputs;
  const labels: Candidate[] = [];

  for (const [task, result] of Object.entries(classifiers)) {
    for (const { label, score } of result.classes) labels.push({ name: label, confidence: score, source: task });
  }

  for (const object of objects.objects) labels.push({ name: object.label, confidence: object.score, source: 'objects' });

  // `count` counts the faces from faces' own threshold; the list also holds weaker candidates.
  const faceScores = faces.faces.map((face) => face.score).sort((a, b) => b - a).slice(0, faces.count);
  if (faceScores.length > 0) {
    labels.push({ name: 'face', confidence: faceScores[0]!, source: 'faces' });
    // A face is a person: evidence for `person` as good as the face's own score, whatever the
    // detector made of the bodies (it finds 17 of 22 people on the face-api photos, at 0.3-0.7).
    labels.push({ name: 'person', confidence: faceScores[0]!, source: 'faces' });
  }
  // People: two faces, or two persons found by objects; the second-best score is how sure two are.
  const personScores = objects.objects.filter((o) => o.label === 'person').map((o) => o.score).sort((a, b) => b - a);
  if (faceScores.length >= 2) labels.push({ name: 'people', confidence: faceScores[1]!, source: 'faces' });
  if (personScores.length >= 2) labels.push({ name: 'people', confidence: personScores[1]!, source: 'objects' });

  const drawn = nsfw.classes.drawing + nsfw.classes.hentai;
  labels.push(drawn >= 0.5 ? { name: 'drawing', confidence: drawn, source: 'nsfw' } : { name: 'photo', confidence: 1 - drawn, source: 'nsfw' });

  if (ocr && ocr.words > 0) labels.push({ name: 'text', confidence: ocr.confidence / 100, source: 'ocr' });

  const shares = new Map<string, number>();
  for (const colour of meta.colours) shares.set(colour.name, (shares.get(colour.name) ?? 0) + colour.share);
  for (const [name, share] of shares) if (share >= COLOUR_SHARE) labels.push({ name, confidence: share, source: 'meta' });

  const fact = (name: string, source: Candidate['source'] = 'meta'): void => void labels.push({ name, confidence: 1, source });
  if (meta.brightness >= BRIGHT) fact('bright');
  if (meta.brightness <= DARK && (pixels.value === null || pixels.value <= DARK_VALUE)) fact('dark');
  if (meta.contrast < LOW_CONTRAST) fact('low contrast');
  if (meta.blurry === true) fact('blurry');
  const greyFile = meta.colourSpace === 'b-w' || meta.colourSpace === 'grey16';
  if (greyFile) fact('black and white');
  else if (pixels.chroma !== null && pixels.chroma < GREY_CHROMA) fact('black and white', 'pixels');
  if (pixels.transparent >= TRANSPARENT_SHARE) fact('transparent', 'pixels');
  const [long, short] = [Math.max(meta.width, meta.height), Math.min(meta.width, meta.height)];
  if (short > 0) fact(long / short < SQUARE_RATIO ? 'square' : meta.width > meta.height ? 'landscape' : 'portrait');
  const megapixels = (meta.width * meta.height) / 1e6;
  fact(SIZES.find(([, below]) => megapixels < below)![0]);

  return labels;
}
