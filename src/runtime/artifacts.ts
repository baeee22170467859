/**
 * Artefacts under --out: paths derived from image keys, always inside the task's folder,
 * written under a temporary name and renamed so that no reader ever sees half a file.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import { TaskError, type ArtifactWriter } from '../tasks/contract.js';

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
 * `a.jpg` never overwrite each other.
 */
export function imageSuffix(key: string, format: ImageFormat): string {
  const lower = key.toLowerCase();
  return FORMAT_EXTENSIONS[format].some((ext) => lower.endsWith(ext)) ? '' : FORMAT_EXTENSIONS[format][0]!;
}

/**
 * The temporary name sits in the final name's folder, so the rename stays on one file system and
 * is atomic; it does not grow with the final name, so any name the file system takes can be
 * written (a 250-byte one included); it is hidden, so folder scans skip one that a kill leaves
 * behind. The random part keeps writers apart that share a pid and thread id (containers writing
 * to one shared volume).
 */
function temporaryBeside(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.imgpipe-${process.pid}-${threadId}-${randomBytes(6).toString('hex')}.tmp`);
}

export async function writeAtomically(finalPath: string, data: Buffer | string): Promise<void> {
  const temp = temporaryBeside(finalPath);
  try {
    await mkdir(path.dirname(finalPath), { recursive: true });
    await writeFile(temp, data);
    await rename(temp, finalPath);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    const err = error as NodeJS.ErrnoException;
    const reason = err.code && !err.message.includes(err.code) ? `${err.code} ${err.message}` : err.message;
    throw new TaskError('E_WRITE', `cannot write ${finalPath}: ${reason}`);
  }
}

/** `onWritten` hears the size of each artefact written, for the run's byte counts. */
export function createArtifactWriter(outDir: string, task: string, key: string, onWritten?: (bytes: number) => void): ArtifactWriter {
  const relative = safeRelativePath(key);
  return {
    async write(data, suffix, options = {}) {
      const base = options.keepExtension === false ? relative.replace(/(\/|^)([^/]+?)\.[^./]+$/, '$1$2') : relative;
      const relativeToOut = `${task}/${base}${suffix}`;
      const finalPath = path.join(outDir, ...relativeToOut.split('/'));
      if (!path.resolve(finalPath).startsWith(path.resolve(outDir) + path.sep)) {
        throw new TaskError('E_WRITE', `refusing to write outside --out: ${relativeToOut}`);
      }
      await writeAtomically(finalPath, data);
      onWritten?.(typeof data === 'string' ? Buffer.byteLength(data) : data.length);
      return relativeToOut;
    },
  };
}
