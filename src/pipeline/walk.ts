/**
 * A recursive directory walk that yields as it reads, one directory handle at a time, so that
 * memory stays bounded however many files there are. (fast-glob's stream reads ahead without
 * backpressure: 10,000 entries buffered after the consumer had taken 50.)
 */
import type { Dir, Dirent } from 'node:fs';
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileIdentityAsync } from './file-identity.js';

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
  /**
   * The file's name is not valid UTF-8 (a Latin-1 name from an old camera or a Windows share), shown
   * with its odd bytes as \xNN. Paths travel as text (the ledger, the workers), where such a name
   * becomes U+FFFD and opens nothing: the file is reported, not opened under a wrong name.
   */
  undecodableName?: string;
}

/** A directory entry's name as text, or undefined when its bytes are not UTF-8 (it would not round-trip). */
function decodeName(raw: Buffer): string | undefined {
  const name = raw.toString('utf8');
  return name.includes('\uFFFD') && !Buffer.from(name, 'utf8').equals(raw) ? undefined : name;
}

/** The name's bytes, printable ASCII as is and the rest as \xNN. */
export function escapedName(raw: Buffer): string {
  return Array.from(raw, (byte) => (byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`)).join('');
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
      id = await fileIdentityAsync(folder);
      if (id === undefined || visited.has(id)) continue;
      visited.add(id);
    }
    if (relativeFolder !== '' && (await skipped?.(folder, id))) continue;
    let dir: Dir;
    try {
      // Names as bytes: a name that is not UTF-8 is told apart instead of read as U+FFFD. (Node
      // supports 'buffer' here, as in readdir; its types for opendir list only text encodings.)
      dir = await opendir(folder, { bufferSize: 128, encoding: 'buffer' as BufferEncoding });
    } catch (error) {
      options.onUnreadable(folder, error as NodeJS.ErrnoException);
      continue;
    }
    const subfolders: string[] = [];
    try {
      for await (const entry of dir as AsyncIterable<Dirent<Buffer>>) {
        const raw = entry.name;
        if (raw[0] === 0x2e) continue;
        const decoded = decodeName(raw);
        const undecodable = decoded === undefined;
        const name = decoded ?? raw.toString('utf8');
        const relative = relativeFolder === '' ? name : `${relativeFolder}/${name}`;
        let isFile = entry.isFile();
        let isFolder = entry.isDirectory();
        if (entry.isSymbolicLink()) {
          if (!options.followSymlinks) continue;
          const target = await stat(Buffer.concat([Buffer.from(`${folder}${path.sep}`), raw])).catch(() => undefined);
          // A link that cannot be followed (a loop, a missing target) goes on as a file: named
          // like an image, it is then recorded as failed with the reason, not dropped unseen.
          isFile = target?.isFile() ?? true;
          isFolder = target?.isDirectory() ?? false;
        }
        if (isFolder && undecodable) {
          const error: NodeJS.ErrnoException = new Error(`its name is not valid UTF-8 (${escapedName(raw)}): rename it in UTF-8 (convmv does) to have its images processed`);
          options.onUnreadable(path.join(folder, name), error);
        } else if (isFolder) subfolders.push(relative);
        else if (isFile && options.include(relative)) {
          yield { path: path.join(folder, name), relative, ...(undecodable ? { undecodableName: escapedName(raw) } : {}) };
        }
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
    targetId ??= await fileIdentityAsync(target);
    return targetId !== undefined && (id ?? (await fileIdentityAsync(folder))) === targetId;
  };
}
