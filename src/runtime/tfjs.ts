/**
 * TensorFlow.js for the tasks whose models exist only in TFJS format: the wasm backend (about
 * 20x the pure-JS one), single-threaded, with its .wasm files read from the installed package.
 * Loaded on first use inside a worker, never at import time.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

type Tf = typeof import('@tensorflow/tfjs');

let ready: Promise<Tf> | undefined;
const require = createRequire(import.meta.url);

export function loadTfjs(): Promise<Tf> {
  ready ??= (async () => {
    const tf = await import('@tensorflow/tfjs');
    const { setWasmPaths } = await import('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    setWasmPaths(`${dist}${path.sep}`);
    await tf.setBackend('wasm');
    await tf.ready();
    return tf;
  })();
  return ready;
}

/**
 * Runs `load` with console output swallowed: some model packages greet on stdout, and a
 * worker's stdout is imgpipe's, where --json events go.
 */
export async function quietly<T>(load: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, info: console.info, warn: console.warn };
  console.log = console.info = console.warn = () => undefined;
  try {
    return await load();
  } finally {
    Object.assign(console, saved);
  }
}

/**
 * A TFJS graph model from its JSON and weight files on disk (Node's fetch cannot read file://).
 * The files are those of a catalogued model, found in its npm package.
 */
export async function loadGraphModelFiles(jsonFile: string): Promise<import('@tensorflow/tfjs').GraphModel> {
  const tf = await loadTfjs();
  const { readFile } = await import('node:fs/promises');
  const json = JSON.parse(await readFile(jsonFile, 'utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: unknown[] }[] };
  const buffers = await Promise.all(json.weightsManifest.flatMap((group) => group.paths.map((file) => readFile(path.join(path.dirname(jsonFile), file)))));
  const weights = Buffer.concat(buffers);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights) as never,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }),
  );
}
