// The manifest parser's worker thread (see manifest-parser.ts): parsing never runs on the thread
// that serves the pools.
import { parentPort } from 'node:worker_threads';
import { loadManifest } from './manifest-loader.js';

parentPort!.on('message', ({ id, file, text }: { id: number; file: string; text: string }) => {
  parentPort!.postMessage({ id, loaded: loadManifest(file, text) });
});
