/**
 * models/catalog.json's prose agrees with its own numbers: `imgpipe models` prints a model's size
 * from its files' bytes and `imgpipe models verify` prints the catalogue's notes, so a note that
 * says "0.2 MB" beside a 0.3 MB listing contradicts the tool on one screen.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers.js';

type Model = { id: string; files: { bytes: number }[] } & Record<string, unknown>;

describe('models/catalog.json', () => {
  it('every "N MB model" in a note is the size `imgpipe models` shows for that model', () => {
    const { models } = JSON.parse(readFileSync(path.join(ROOT, 'models', 'catalog.json'), 'utf8')) as { models: Model[] };
    let notes = 0;
    for (const model of models) {
      // As src/commands/models.ts prints it: the files' bytes in MB, one decimal.
      const shown = (model.files.reduce((sum, file) => sum + file.bytes, 0) / 1_000_000).toFixed(1);
      for (const value of Object.values(model).filter((v): v is string => typeof v === 'string')) {
        for (const [, said] of value.matchAll(/(\d+(?:\.\d+)?) MB model/g)) {
          notes += 1;
          expect(said, `${model.id}: "${value}"`).toBe(shown);
        }
      }
    }
    expect(notes).toBeGreaterThan(0);
  });
});
