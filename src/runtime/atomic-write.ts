/**
 * Replacing a file whole: the bytes go to a temporary file beside it, which is renamed over it,
 * so that no reader ever sees half a file. A write that fails removes its temporary file and
 * leaves the earlier file as it was. Artefacts, report files, `--metrics-file` and
 * `export --output` are all written so.
 */
import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { threadId } from 'node:worker_threads';

/**
 * The temporary name sits in the final name's folder, so the rename stays on one file system and
 * is atomic; it does not grow with the final name, so any name the file system takes can be
 * written (a 250-byte one included); it is hidden, so folder scans skip one that a kill leaves
 * behind. The random part keeps writers apart that share a pid and thread id (containers writing
 * to one shared volume).
 */
export function temporaryBeside(finalPath: string): string {
  return path.join(path.dirname(finalPath), `.imgpipe-${process.pid}-${threadId}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` as the whole of `finalPath`; errors are the file system's, the temporary file gone. */
export async function replaceFile(finalPath: string, data: Buffer | string): Promise<void> {
  const temp = temporaryBeside(finalPath);
  try {
    await writeFile(temp, data);
    await rename(temp, finalPath);
  } catch (error) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
}

/**
 * As `replaceFile`, synchronously: on the main thread nothing can exit the process between the
 * write and the rename (a second Ctrl-C exits at once) and leave the temporary file behind.
 */
export function replaceFileSync(finalPath: string, data: Buffer | string): void {
  const temp = temporaryBeside(finalPath);
  try {
    writeFileSync(temp, data);
    renameSync(temp, finalPath);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
