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
