/**
 * A recursive directory walk that yields as it reads, one directory handle at a time, so that
 * memory stays bounded however many files there are. (fast-glob's stream reads ahead without
 * backpressure: 10,000 entries buffered after the consumer had taken 50.)
 */
import type { Dir } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';

export interface WalkOptions {
  followSymlinks: boolean;
  /** Decides on a file by its path relative to the walk's root (forward slashes). */
  include: (relative: string) => boolean;
  /** A folder that cannot be read: reported, and the walk goes on. */
  onUnreadable: (folder: string, error: NodeJS.ErrnoException) => void;
  /**
   * A folder never entered below the root, however it is reached (`..`, another spelling, a link,
   * a bind mount): told by its identity, not its path. It may not exist yet when the walk starts.
   */
  skipFolder?: string;
}

export interface WalkEntry {
  path: string;
  relative: string;
}

/** Depth first; hidden files and folders (a leading dot) are skipped, as shells and fast-glob do. */
export async function* walk(root: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
  const visited = new Set<string>();
  const skipped = options.skipFolder === undefined ? undefined : sameFolder(options.skipFolder);
  const folders: string[] = [''];
  while (folders.length > 0) {
    const relativeFolder = folders.pop()!;
    const folder = path.join(root, relativeFolder);
    let id: string | undefined;
    if (options.followSymlinks) {
      // Followed links can loop back: each real folder is read once.
      id = await folderIdentity(folder);
      if (id === undefined || visited.has(id)) continue;
      visited.add(id);
    }
    if (relativeFolder !== '' && (await skipped?.(folder, id))) continue;
    let dir: Dir;
    try {
      dir = await opendir(folder, { bufferSize: 128 });
    } catch (error) {
      options.onUnreadable(folder, error as NodeJS.ErrnoException);
      continue;
    }
    const subfolders: string[] = [];
    try {
      for await (const entry of dir) {
        if (entry.name.startsWith('.')) continue;
        const relative = relativeFolder === '' ? entry.name : `${relativeFolder}/${entry.name}`;
        let isFile = entry.isFile();
        let isFolder = entry.isDirectory();
        if (entry.isSymbolicLink()) {
          if (!options.followSymlinks) continue;
          const target = await stat(path.join(folder, entry.name)).catch(() => undefined);
          // A link that cannot be followed (a loop, a missing target) goes on as a file: named
          // like an image, it is then recorded as failed with the reason, not dropped unseen.
          isFile = target?.isFile() ?? true;
          isFolder = target?.isDirectory() ?? false;
        }
        if (isFolder) subfolders.push(relative);
        else if (isFile && options.include(relative)) yield { path: path.join(folder, entry.name), relative };
      }
    } catch (error) {
      options.onUnreadable(folder, error as NodeJS.ErrnoException);
    }
    // Reversed so that the pop order follows the directory's own order.
    folders.push(...subfolders.reverse());
  }
}

/**
 * Tells whether a folder is `target`. The target is looked up until it exists (a run creates its
 * --out folder with its first artefact, maybe in the middle of the walk); until then no folder is
 * it, and none is stat'ed to compare.
 */
function sameFolder(target: string): (folder: string, id: string | undefined) => Promise<boolean> {
  let targetId: string | undefined;
  return async (folder, id) => {
    targetId ??= await folderIdentity(target);
    return targetId !== undefined && (id ?? (await folderIdentity(folder))) === targetId;
  };
}

async function folderIdentity(folder: string): Promise<string | undefined> {
  try {
    const stats = await stat(folder);
    return `${stats.dev}:${stats.ino}`;
  } catch {
    return undefined;
  }
}
