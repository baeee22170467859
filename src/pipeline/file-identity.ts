/**
 * Which file or folder a path names, links followed: its device and inode. Tells two names of
 * one file (`..`, another spelling, a link, a bind mount) from two files, and a file from another
 * put in its place under the same name. Read as bigints: an inode number may pass 2^53, where a
 * number would make two files one. Undefined when the path cannot be stat'ed (not there yet).
 */
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';

export function fileIdentity(file: string): string | undefined {
  try {
    const stats = statSync(file, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}

/** As fileIdentity, without blocking the event loop (the folder walk). */
export async function fileIdentityAsync(file: string): Promise<string | undefined> {
  try {
    const stats = await stat(file, { bigint: true });
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}
