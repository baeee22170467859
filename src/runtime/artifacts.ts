/**
 * Artefacts under --out: paths derived from image keys, always inside the task's folder, never
 * over the job's own input, written under a temporary name and renamed so that no reader ever
 * sees half a file.
 */
import { mkdirSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TaskError } from '../errors.js';
import { replaceFile, replaceFileSync } from './atomic-write.js';
import type { ArtifactWriter } from '../tasks/contract.js';

/**
 * Maps a key (which may come from a manifest: absolute, with `..`, or Windows-style) to a
 * relative path that cannot climb out of the folder it is joined to.
 */
export function safeRelativePath(key: string): string {
  const parts = key
    .split(/[\\/]+/)
    .filter((part) => part !== '' && part !== '.' && part !== '..')
    .map((part) => part.replace(/^([A-Za-z]):$/, '$1_').replace(/\0/g, '_'));
  return parts.length > 0 ? parts.join('/') : '_';
}

export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'avif';

const FORMAT_EXTENSIONS: Record<ImageFormat, readonly string[]> = {
  jpeg: ['.jpg', '.jpeg', '.jpe'],
  png: ['.png'],
  webp: ['.webp'],
  avif: ['.avif'],
};

/**
 * What to append to a key for an image artefact in `format`: nothing when the key's extension
 * already fits, the format's extension otherwise (`a.png` -> `a.png.jpg`), so that `a.png` and
 * `a.jpg` never overwrite each other. Only a key that is another key plus that extension (`a.png.jpg`
 * beside `a.png`) shares a name: no rule that keeps `a.jpg` as it is can avoid that (the key `a`
 * would become `a.jpg` too), and a readable name for the common case is worth more (README).
 */
export function imageSuffix(key: string, format: ImageFormat): string {
  const lower = key.toLowerCase();
  return FORMAT_EXTENSIONS[format].some((ext) => lower.endsWith(ext)) ? '' : FORMAT_EXTENSIONS[format][0]!;
}

function writeFailure(finalPath: string, error: unknown): TaskError {
  const err = error as NodeJS.ErrnoException;
  const reason = err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message;
  return new TaskError('E_WRITE', `cannot write ${finalPath}: ${reason}`);
}

/** Fails with E_WRITE, saying why; a folder missing on the way is made. */
export async function writeAtomically(finalPath: string, data: Buffer | string): Promise<void> {
  try {
    await mkdir(path.dirname(finalPath), { recursive: true });
    await replaceFile(finalPath, data);
  } catch (error) {
    throw writeFailure(finalPath, error);
  }
}

/**
 * As `writeAtomically`, blocking: for a worker thread, which runs one job at a time and has
 * nothing else to do meanwhile. Its file calls then skip libuv's thread pool, where they would
 * queue behind the images that sharp is decoding there (four threads, shared by every worker).
 */
function writeAtomicallySync(finalPath: string, data: Buffer | string): void {
  try {
    mkdirSync(path.dirname(finalPath), { recursive: true });
    replaceFileSync(finalPath, data);
  } catch (error) {
    throw writeFailure(finalPath, error);
  }
}

/** The file a job read: its path, and the identity of the file its bytes came from. */
export interface InputFile {
  readonly path: string;
  readonly dev: number;
  readonly ino: number;
}

/**
 * Whether `finalPath` is the job's input: with --out over the inputs, a manifest id (or a link, a
 * symlinked folder) can make an artefact's path the image's own, and the write would replace the
 * image, every later run shrinking it again. Compared by device and inode, so any spelling of the
 * path counts. A destination that does not exist cannot be the input; one that cannot be looked
 * at is left to the write, which says why.
 */
function isInput(finalPath: string, input: InputFile): boolean {
  let existing;
  try {
    existing = statSync(finalPath, { throwIfNoEntry: false });
  } catch {
    return false;
  }
  return existing !== undefined && existing.dev === input.dev && existing.ino === input.ino;
}

/** `onWritten` hears the size of each artefact written, for the run's byte counts. */
export function createArtifactWriter(outDir: string, task: string, key: string, input: InputFile, onWritten?: (bytes: number) => void): ArtifactWriter {
  const relative = safeRelativePath(key);
  return {
    async write(data, suffix) {
      const relativeToOut = `${task}/${relative}${suffix}`;
      const finalPath = path.join(outDir, ...relativeToOut.split('/'));
      if (!path.resolve(finalPath).startsWith(path.resolve(outDir) + path.sep)) {
        throw new TaskError('E_WRITE', `refusing to write outside --out: ${relativeToOut}`);
      }
      if (isInput(finalPath, input)) {
        throw new TaskError('E_WRITE', `the artefact would overwrite the input itself: ${input.path} (as ${relativeToOut} under --out); choose another --out`);
      }
      writeAtomicallySync(finalPath, data);
      onWritten?.(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
      return relativeToOut;
    },
  };
}
