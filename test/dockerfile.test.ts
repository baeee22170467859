/**
 * examples/Dockerfile copies what the program needs: the inputs of `npm ci` and the build, and
 * every file src/ looks up beside its own code at run time (`new URL('../../…', import.meta.url)`).
 * Docker is not run here: the COPY lines are read. A file left out fails only in the container
 * (ENOENT models/catalog.json for every model task), so a new lookup must fail here first.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const DOCKERFILE = path.join(ROOT, 'examples', 'Dockerfile');

/** The sources of each COPY from the build context (not `--from=` a stage), with its line. */
function copies(): { sources: string[]; line: number }[] {
  return readFileSync(DOCKERFILE, 'utf8')
    .split('\n')
    .map((text, line) => ({ words: text.trim().split(/\s+/), line }))
    .filter(({ words }) => words[0] === 'COPY' && !words.some((word) => word.startsWith('--from')))
    .map(({ words, line }) => {
      if (words[1]!.startsWith('[')) throw new Error(`examples/Dockerfile:${line + 1}: JSON-form COPY: extend this test to read it`);
      const args = words.slice(1).filter((word) => !word.startsWith('--'));
      return { sources: args.slice(0, -1).map((source) => source.replace(/^\.\/|\/$/g, '')), line };
    });
}

/** Repository paths that the built code (dist/) reads at run time, found in src/. */
function runtimeLookups(): string[] {
  const found = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) {
        const built = path.posix.join('dist', path.relative(path.join(ROOT, 'src'), dir).split(path.sep).join('/'));
        for (const [, url] of readFileSync(full, 'utf8').matchAll(/new URL\(\s*'([^']+)'\s*,\s*import\.meta\.url\s*\)/g)) {
          const target = path.posix.normalize(path.posix.join(built, url!)).replace(/\/$/, '');
          // Code: built from src/ by npm ci in the image.
          if (!target.startsWith('dist/')) found.add(target);
        }
      }
    }
  };
  walk(path.join(ROOT, 'src'));
  return [...found].sort();
}

describe('examples/Dockerfile', () => {
  it('copies every file the build and the program read, .npmrc before npm ci', () => {
    const lookups = runtimeLookups();
    // The scan itself works: these are the lookups that a container once lacked.
    expect(lookups).toEqual(expect.arrayContaining(['assets/report', 'models/catalog.json', 'package.json']));
    const sources = copies().flatMap((copy) => copy.sources);
    for (const source of sources) expect(existsSync(path.join(ROOT, source)), `COPY ${source}: not in the repository`).toBe(true);
    const covered = (file: string) => sources.some((source) => file === source || file.startsWith(`${source}/`));
    const needed = [...lookups, 'package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'bin/imgpipe.js', 'src'];
    expect(needed.filter((file) => !covered(file))).toEqual([]);

    // .npmrc sets onnxruntime-node-install=skip: without it npm ci runs onnxruntime's download.
    const lines = readFileSync(DOCKERFILE, 'utf8').split('\n');
    const npmCi = lines.findIndex((line) => /^RUN .*\bnpm ci\b/.test(line));
    expect(npmCi).toBeGreaterThan(-1);
    expect(copies().some((copy) => copy.line < npmCi && copy.sources.includes('.npmrc'))).toBe(true);
    expect(readFileSync(path.join(ROOT, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
  });
});
