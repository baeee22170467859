/**
 * What the report shows, derived from one image's jobs at a time: the gallery's index entry
 * (what filters need), the image page's record (everything), and the summary's tallies.
 * Only the shapes of the built-in tasks' results are read here; any other task's result is
 * shown as it is.
 */
import type { ImageJobs, JobRecord } from '../pipeline/ledger-queries.js';
import type { JobState } from '../pipeline/types.js';
import { nearDuplicateGroups } from '../pipeline/near-duplicates.js';
import type { Picture } from './pictures.js';

/** One image in the gallery's index: small, since the gallery holds all of them to filter. */
export interface IndexEntry {
  id: number;
  key: string;
  thumb: string | null;
  states: Record<string, JobState>;
  labels?: string[];
  nsfw?: string;
  faces?: number;
  objects?: string[];
  logos?: string[];
  errors?: string[];
}

export interface ReportArtefact {
  /** As the ledger records it: relative to the run's --out. */
  path: string;
  /** Its preview in the report folder, when it is an image that was found. */
  preview: string | null;
}

export type ReportJob = Omit<JobRecord, 'key' | 'path' | 'sha256' | 'artifacts' | 'vector'> & { artifacts: ReportArtefact[] };

/** One image's page: its pictures and every field of every job. */
export interface ImageRecord {
  id: number;
  key: string;
  path: string;
  sha256: string | null;
  picture: Picture | null;
  /** Why there is no picture. */
  pictureError?: string;
  jobs: ReportJob[];
}

interface Group {
  kind: 'exact' | 'near';
  images: { id: number; key: string; thumb: string | null }[];
  distance: number;
}

export interface Summary {
  generatedAt: string;
  ledger: string;
  images: number;
  pictures: { thumbSize: number; previewSize: number; made: number; reused: number; failed: number; missingArtefacts: number };
  chunks: { index: number; text: number; images: number; imagesPerChunk: number };
  tasks: { task: string; pending: number; running: number; done: number; failed: number; meanMs: number | null }[];
  runs: { id: number; tasks: string; shard: string | null; host: string; startedAt: string; status: string; durationMs: number | null; jobs: number | null; jobsPerSecond: number | null }[];
  failures: { task: string; code: string; count: number; examples: { id: number; key: string; message: string }[] }[];
  labels: [string, number][];
  objects: [string, number][];
  logos: [string, number][];
  nsfw: [string, number][];
  faces: [string, number][];
  duplicates: { exactGroups: number; nearGroups: number; groups: Group[] };
}

type Result = Record<string, unknown> | null;

const doneResult = (jobs: JobRecord[], task: string): Result => {
  const job = jobs.find((j) => j.task === task && j.state === 'done');
  return job && job.result && typeof job.result === 'object' ? (job.result as Record<string, unknown>) : null;
};

const names = (list: unknown, field: string): string[] =>
  Array.isArray(list) ? [...new Set(list.map((item) => (item as Record<string, unknown>)?.[field]).filter((name): name is string => typeof name === 'string'))] : [];

export function indexEntry(id: number, image: ImageJobs, thumb: string | null): IndexEntry {
  const entry: IndexEntry = { id, key: image.key, thumb, states: Object.fromEntries(image.jobs.map((job) => [job.task, job.state])) };
  const labels = doneResult(image.jobs, 'labels');
  if (labels) entry.labels = names(labels.labels, 'name');
  const nsfw = doneResult(image.jobs, 'nsfw');
  if (typeof nsfw?.verdict === 'string') entry.nsfw = nsfw.verdict;
  const faces = doneResult(image.jobs, 'faces');
  if (typeof faces?.count === 'number') entry.faces = faces.count;
  const objects = doneResult(image.jobs, 'objects');
  if (objects) entry.objects = names(objects.objects, 'label');
  const logos = doneResult(image.jobs, 'logos');
  if (logos) entry.logos = names(logos.logos, 'brand');
  const errors = [...new Set(image.jobs.flatMap((job) => (job.state === 'failed' && job.errorCode ? [job.errorCode] : [])))];
  if (errors.length > 0) entry.errors = errors;
  return entry;
}

/** The OCR text of an image, for the gallery's search; null when there is none. */
export function ocrText(image: ImageJobs): string | null {
  const text = doneResult(image.jobs, 'ocr')?.text;
  return typeof text === 'string' && text.trim() !== '' ? text : null;
}

/** `previews`: artefact path (relative to --out) -> its preview in the report folder. */
export function imageRecord(id: number, image: ImageJobs, picture: Picture | { error: string } | null, previews: ReadonlyMap<string, string | null>): ImageRecord {
  return {
    id,
    key: image.key,
    path: image.path,
    sha256: image.sha256,
    picture: picture && 'thumb' in picture ? picture : null,
    ...(picture === null ? { pictureError: 'the file was never read (see the errors below)' } : 'error' in picture ? { pictureError: picture.error } : {}),
    jobs: image.jobs.map(({ key: _key, path: _path, sha256: _sha, vector: _vector, artifacts, ...job }) => ({
      ...job,
      artifacts: artifacts.map((artefact) => ({ path: artefact, preview: previews.get(artefact) ?? null })),
    })),
  };
}

const increment = (map: Map<string, number>, key: string, by = 1): void => {
  map.set(key, (map.get(key) ?? 0) + by);
};

const sorted = (map: Map<string, number>): [string, number][] => [...map].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

/** The summary page's figures, tallied one image at a time. */
export class Tally {
  images = 0;
  private readonly tasks = new Map<string, { pending: number; running: number; done: number; failed: number; ms: number; timed: number }>();
  private readonly failures = new Map<string, Summary['failures'][number]>();
  private readonly labels = new Map<string, number>();
  private readonly objects = new Map<string, number>();
  private readonly logos = new Map<string, number>();
  private readonly nsfw = new Map<string, number>();
  private readonly faces = new Map<string, number>();
  /** sha256 -> images with those bytes; the first one's phash stands for them. */
  private readonly contents = new Map<string, { images: Group['images']; phash: string | null }>();

  add(entry: IndexEntry, image: ImageJobs): void {
    this.images += 1;
    for (const job of image.jobs) {
      const counts = this.tasks.get(job.task) ?? { pending: 0, running: 0, done: 0, failed: 0, ms: 0, timed: 0 };
      counts[job.state] += 1;
      if (job.state === 'done' && typeof job.durationMs === 'number') {
        counts.ms += job.durationMs;
        counts.timed += 1;
      }
      this.tasks.set(job.task, counts);
      if (job.state === 'failed') {
        const code = job.errorCode ?? 'unknown';
        const id = `${job.task}\u0000${code}`;
        const group = this.failures.get(id) ?? { task: job.task, code, count: 0, examples: [] };
        group.count += 1;
        if (group.examples.length < 5) group.examples.push({ id: entry.id, key: image.key, message: job.errorMessage ?? '' });
        this.failures.set(id, group);
      }
    }
    entry.labels?.forEach((label) => increment(this.labels, label));
    entry.objects?.forEach((label) => increment(this.objects, label));
    entry.logos?.forEach((brand) => increment(this.logos, brand));
    if (entry.nsfw) increment(this.nsfw, entry.nsfw);
    if (entry.faces !== undefined) increment(this.faces, entry.faces >= 5 ? '5+' : String(entry.faces));
    if (image.sha256) {
      const content = this.contents.get(image.sha256) ?? { images: [], phash: null };
      content.images.push({ id: entry.id, key: image.key, thumb: entry.thumb });
      const phash = doneResult(image.jobs, 'meta')?.phash;
      content.phash ??= typeof phash === 'string' ? phash : null;
      this.contents.set(image.sha256, content);
    }
  }

  /** Exact copies (same sha256) and near ones (perceptual hash within `distance` bits), largest first. */
  private duplicates(distance: number, shown: number): Summary['duplicates'] {
    const contents = [...this.contents.values()];
    const exact: Group[] = contents.filter((c) => c.images.length > 1).map((c) => ({ kind: 'exact', images: c.images, distance: 0 }));
    const withHash = contents.filter((c) => c.phash !== null);
    const byKey = new Map(withHash.map((c) => [c.images[0]!.key, c.images]));
    const near: Group[] = nearDuplicateGroups(
      withHash.map((c) => ({ key: c.images[0]!.key, phash: c.phash! })),
      distance,
    ).map((group) => ({ kind: 'near', images: group.keys.flatMap((key) => byKey.get(key)!), distance: group.maxDistance }));
    const groups = [...exact, ...near].sort((a, b) => b.images.length - a.images.length || a.images[0]!.key.localeCompare(b.images[0]!.key));
    return { exactGroups: exact.length, nearGroups: near.length, groups: groups.slice(0, shown) };
  }

  summary(base: Pick<Summary, 'generatedAt' | 'ledger' | 'pictures' | 'chunks' | 'runs'>): Summary {
    return {
      ...base,
      images: this.images,
      tasks: [...this.tasks]
        .sort((a, b) => a[0].localeCompare(b[0]))
        .map(([task, c]) => ({ task, pending: c.pending, running: c.running, done: c.done, failed: c.failed, meanMs: c.timed > 0 ? Math.round((c.ms / c.timed) * 10) / 10 : null })),
      failures: [...this.failures.values()].sort((a, b) => b.count - a.count || a.task.localeCompare(b.task) || a.code.localeCompare(b.code)),
      labels: sorted(this.labels),
      objects: sorted(this.objects),
      logos: sorted(this.logos),
      nsfw: sorted(this.nsfw),
      faces: [...this.faces].sort((a, b) => parseInt(a[0], 10) - parseInt(b[0], 10)),
      duplicates: this.duplicates(NEAR_DISTANCE, SHOWN_GROUPS),
    };
  }
}

/** `imgpipe duplicates`' default: resized, re-encoded or lightly edited copies. */
const NEAR_DISTANCE = 6;
const SHOWN_GROUPS = 50;
