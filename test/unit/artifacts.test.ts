/**
 * Artefact writing under --out: a key can never lead outside it, a write that fails midway
 * (disk full) leaves nothing under the final name, nor a temporary file, and fails with E_WRITE,
 * and any name the file system takes can be written.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, existsSync, statSync, symlinkSync, writeFileSync as realWriteFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';

/** When set, writeFile writes half of the data, then fails as a full disk does. */
let diskFull = false;
/** Every file writeFile was asked to write: the temporary names. */
const temporaries: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...actual,
    writeFile: async (file: string, data: Buffer | string) => {
      temporaries.push(file);
      if (!diskFull) return actual.writeFile(file, data);
      realWriteFileSync(file, data.slice(0, Math.floor(data.length / 2)));
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
    },
  };
});

const { createArtifactWriter, safeRelativePath, writeAtomically } = await import('../../src/runtime/artifacts.js');

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'fixtures');

/** A job's input as the worker describes it: its path and the identity of the file it read. */
function inputAt(file: string) {
  const { dev, ino } = statSync(file);
  return { path: file, dev, ino };
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('artefacts', () => {
  it('maps hostile keys to paths inside --out', async () => {
    expect(safeRelativePath('../../x.jpg')).toBe('x.jpg');
    expect(safeRelativePath('/etc/passwd')).toBe('etc/passwd');
    expect(safeRelativePath('a/../../../b.png')).toBe('a/b.png');
    expect(safeRelativePath('C:\\Users\\me\\a.jpg')).toBe('C_/Users/me/a.jpg');
    expect(safeRelativePath('..')).toBe('_');
    expect(safeRelativePath('nul\0byte.jpg')).toBe('nul_byte.jpg');
    const root = mkdtempSync(path.join(tmpdir(), 'imgpipe-artefacts-'));
    const out = path.join(root, 'out');
    for (const key of ['../../escape.jpg', '/abs/olute.jpg', '..', 'a/../../b.jpg', '..\\..\\win.jpg']) {
      const written = await createArtifactWriter(out, 'preprocess', key, inputAt(path.join(FIXTURES, 'colours', 'red.png'))).write('x', '.txt');
      expect(path.resolve(out, written).startsWith(out + path.sep), key).toBe(true);
    }
    // Nothing landed beside --out.
    expect(readdirSync(root)).toEqual(['out']);
  });

  it('a full disk midway: E_WRITE naming ENOSPC, no file under the final name, no temporary file left', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imgpipe-enospc-'));
    const final = path.join(dir, 'sub', 'image.jpg');
    diskFull = true;
    try {
      await expect(writeAtomically(final, Buffer.alloc(64 * 1024, 7))).rejects.toMatchObject({ code: 'E_WRITE', message: expect.stringMatching(/^cannot write .*image\.jpg: ENOSPC: no space left on device/) });
    } finally {
      diskFull = false;
    }
    expect(existsSync(final)).toBe(false);
    expect(files(dir)).toEqual([]);
    // The same write with room to spare succeeds, whole.
    await writeAtomically(final, Buffer.alloc(64 * 1024, 7));
    expect(files(dir)).toEqual(['sub/image.jpg']);
  });

  it('a name as long as the file system takes (250 bytes, or multibyte) is written: the temporary name is short, hidden and beside it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imgpipe-long-'));
    const names = [`${'x'.repeat(246)}.jpg`, `${'日'.repeat(80)}.jpg`];
    expect(names.map((name) => Buffer.byteLength(name))).toEqual([250, 244]);
    temporaries.length = 0;
    for (const name of names) await writeAtomically(path.join(dir, name), name);
    expect(files(dir)).toEqual([...names].sort());
    for (const name of names) expect(readFileSync(path.join(dir, name), 'utf8')).toBe(name);
    // In the same folder, so the rename stays on one file system (atomic); hidden, so folder
    // scans skip one that a kill leaves behind.
    expect(temporaries).toHaveLength(2);
    for (const temporary of temporaries) {
      expect(path.dirname(temporary)).toBe(dir);
      expect(path.basename(temporary)).toMatch(/^\.imgpipe-\d+-\d+-[0-9a-f]{12}\.tmp$/);
    }
  });

  it('never replaces the job\'s own input, however --out spells its path: E_WRITE, the input as it was, no temporary file', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'imgpipe-own-input-'));
    const out = path.join(root, 'out');
    mkdirSync(path.join(out, 'preprocess'), { recursive: true });
    const photo = path.join(out, 'preprocess', 'dusk.jpg');
    copyFileSync(path.join(FIXTURES, 'photos', 'dusk.jpg'), photo);
    const original = readFileSync(photo);
    const input = inputAt(photo);
    // The same folder under another name: paths differ, the file is one.
    symlinkSync(out, path.join(root, 'elsewhere'));
    for (const outDir of [out, path.join(root, 'elsewhere')]) {
      await expect(createArtifactWriter(outDir, 'preprocess', 'dusk.jpg', input).write('artefact', '')).rejects.toMatchObject({
        code: 'E_WRITE',
        message: `the artefact would overwrite the input itself: ${photo} (as preprocess/dusk.jpg under --out); choose another --out`,
      });
    }
    expect(readFileSync(photo).equals(original)).toBe(true);
    expect(files(out)).toEqual(['preprocess/dusk.jpg']);
    // Other keys' artefacts beside it are written as ever.
    expect(await createArtifactWriter(out, 'preprocess', 'dusk.png', input).write('artefact', '.jpg')).toBe('preprocess/dusk.png.jpg');
    expect(readFileSync(photo).equals(original)).toBe(true);
  });
});
