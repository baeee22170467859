/**
 * Writes the HTML report of a ledger into a folder: the pages and their scripts (copied from
 * assets/report/), the pictures (pictures.ts) and the data, as chunked scripts (script-data.ts):
 *
 *   data/summary.js       figures of the summary page, and how many chunks of each kind exist
 *   data/index-NNNN.js    the gallery's index: every image's key, thumbnail and filterable facts
 *   data/text-NNNN.js     OCR text, loaded by the gallery only when a search is typed
 *   data/images-NNNN.js   every field of every job, IMAGES_PER_CHUNK images a file, for image pages
 *
 * The ledger is streamed once, image by image; memory grows only with the index of pictures
 * (a sha256 and a size per image), never with results.
 */
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Ledger } from '../pipeline/ledger.js';
import { iterateImageJobs, recentRuns } from '../pipeline/ledger-queries.js';
import { dataScript } from './script-data.js';
import { imageRecord, indexEntry, ocrText, Tally, type IndexEntry, type ImageRecord, type Summary } from './model.js';
import { forEachLimited, PictureMaker, type Picture, type PictureSizes } from './pictures.js';

export interface ReportSettings {
  /** The ledger's file name, shown on the summary page. */
  ledgerName: string;
  /** The report folder. */
  dir: string;
  /** The run's --out: where the ledger's artefact paths are relative to. */
  out: string;
  sizes: PictureSizes;
  /** Pictures made at once (each on one libvips thread). */
  threads: number;
}

/** Marks a folder as an imgpipe report, which a new report may overwrite. */
const REPORT_MARKER = '.imgpipe-report';
const ASSETS = new URL('../../assets/report/', import.meta.url);

const INDEX_PER_CHUNK = 5000;
const TEXT_PER_CHUNK = 2000;
const IMAGES_PER_CHUNK = 100;
const RUNS_SHOWN = 20;

/** A folder that a report may be written to: missing, empty, or an earlier report. */
export function reportFolderProblem(dir: string): string | undefined {
  if (!existsSync(dir)) return creatableFolderProblem(dir);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return `${dir} is not a folder that can be read`;
  }
  if (entries.length === 0 || entries.includes(REPORT_MARKER)) return undefined;
  return `${dir} is not empty and holds no imgpipe report; give a new or empty folder (a report folder is rewritten)`;
}

/**
 * A missing folder can be created when its nearest existing ancestor is a writable folder;
 * found before the ledger is read, so that a report under a file (or in a read-only place)
 * is a usage error rather than a failure half-way.
 */
function creatableFolderProblem(dir: string): string | undefined {
  let ancestor = path.dirname(dir);
  while (!existsSync(ancestor) && path.dirname(ancestor) !== ancestor) ancestor = path.dirname(ancestor);
  if (!statSync(ancestor).isDirectory()) return `${dir} cannot be created: ${ancestor} is a file, not a folder`;
  try {
    accessSync(ancestor, constants.W_OK);
  } catch {
    return `${dir} cannot be created: ${ancestor} is not writable`;
  }
  return undefined;
}

class ChunkWriter<T> {
  private items: T[] = [];
  count = 0;

  constructor(
    private readonly dir: string,
    private readonly kind: string,
    private readonly size: number,
  ) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length === this.size) this.flush();
  }

  flush(): void {
    if (this.items.length === 0) return;
    const name = `${this.kind}-${this.count}`;
    writeFileSync(path.join(this.dir, `${this.kind}-${String(this.count).padStart(4, '0')}.js`), dataScript(name, this.items));
    this.items = [];
    this.count += 1;
  }
}

function copyAssets(dir: string): void {
  const assets = decodeURIComponent(ASSETS.pathname);
  for (const name of readdirSync(assets)) copyFileSync(path.join(assets, name), path.join(dir, name));
}

async function makePictures(ledger: Ledger, settings: ReportSettings, maker: PictureMaker): Promise<{ originals: Map<string, Picture | { error: string }>; artefacts: Map<string, string | null> }> {
  const contents = ledger.db.prepare('SELECT sha256, min(path) AS path FROM images WHERE sha256 IS NOT NULL GROUP BY sha256').all() as { sha256: string; path: string }[];
  const originals = new Map<string, Picture | { error: string }>();
  await forEachLimited(contents, settings.threads, async ({ sha256, path: file }) => {
    originals.set(sha256, await maker.original(sha256, file));
  });
  const paths = new Set<string>();
  for (const row of ledger.db.prepare("SELECT artifacts FROM jobs WHERE state = 'done' AND artifacts IS NOT NULL").iterate() as Iterable<{ artifacts: string }>) {
    for (const artefact of JSON.parse(row.artifacts) as string[]) paths.add(artefact);
  }
  const artefacts = new Map<string, string | null>();
  await forEachLimited(paths, settings.threads, async (artefact) => {
    artefacts.set(artefact, await maker.artefact(path.resolve(settings.out, artefact)));
  });
  return { originals, artefacts };
}

export async function buildReport(ledger: Ledger, settings: ReportSettings): Promise<Summary> {
  const { dir } = settings;
  const data = path.join(dir, 'data');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, REPORT_MARKER), 'An imgpipe HTML report: `imgpipe report --html` rewrites this folder.\n');
  // Chunks of an earlier, larger report would linger unreferenced.
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data);
  copyAssets(dir);

  const maker = new PictureMaker(dir, settings.sizes);
  const { originals, artefacts } = await makePictures(ledger, settings, maker);
  await maker.save();

  const index = new ChunkWriter<IndexEntry>(data, 'index', INDEX_PER_CHUNK);
  const texts = new ChunkWriter<[number, string]>(data, 'text', TEXT_PER_CHUNK);
  const records = new ChunkWriter<ImageRecord>(data, 'images', IMAGES_PER_CHUNK);
  const tally = new Tally();
  let id = 0;
  for (const image of iterateImageJobs(ledger.db)) {
    const picture = image.sha256 ? originals.get(image.sha256) ?? null : null;
    const entry = indexEntry(id, image, picture && 'thumb' in picture ? picture.thumb : null);
    index.push(entry);
    const text = ocrText(image);
    if (text !== null) texts.push([id, text]);
    records.push(imageRecord(id, image, picture, artefacts));
    tally.add(entry, image);
    id += 1;
  }
  [index, texts, records].forEach((writer) => writer.flush());

  const summary = tally.summary({
    generatedAt: new Date().toISOString(),
    ledger: settings.ledgerName,
    pictures: { thumbSize: settings.sizes.thumb, previewSize: settings.sizes.preview, made: maker.made, reused: maker.reused, failed: maker.failed, missingArtefacts: maker.missingArtefacts },
    chunks: { index: index.count, text: texts.count, images: records.count, imagesPerChunk: IMAGES_PER_CHUNK },
    runs: recentRuns(ledger.db, RUNS_SHOWN).map((run) => {
      const counts = run.counts ? (JSON.parse(run.counts) as { jobsPerSecond?: number; jobs?: { done?: number; failed?: number } }) : undefined;
      const jobs = counts?.jobs ? (counts.jobs.done ?? 0) + (counts.jobs.failed ?? 0) : null;
      return { id: run.id, tasks: run.tasks, shard: run.shard, host: run.host, startedAt: run.startedAt, status: run.status, durationMs: run.durationMs, jobs, jobsPerSecond: counts?.jobsPerSecond ?? null };
    }),
  });
  writeFileSync(path.join(data, 'summary.js'), dataScript('summary', summary));
  return summary;
}
