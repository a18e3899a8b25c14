// Parses manifests on a worker thread. Parsing is linear and bounded (manifest-loader.ts), but a
// 3 MiB file still takes a few hundred milliseconds of CPU; on the main thread that is a few hundred
// milliseconds in which no pool answers a request.
import { Worker } from 'node:worker_threads';
import type { LoadedFile } from './manifest-loader.js';

// Run from source (Jest, tsx) this module is a .ts file, and so is the worker's; Node cannot load that
// by itself, so the worker first registers tsx's loader (a dev dependency, resolved from this file, so
// whatever the working directory; the built package runs .js).
function startWorker(): Worker {
  const options = { resourceLimits: { maxOldGenerationSizeMb: 512 } };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./parse-worker.js', import.meta.url), options);
  const entry = new URL('./parse-worker.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, { ...options, eval: true });
}

/**
 * One worker, started on first use and again after it died (a crash fails only the parses in flight).
 * Idle for `idleMs`, it is stopped: a worker thread holds its own V8 heap (~30 MB of RSS), and
 * manifests change rarely; the next parse starts one again (tens of milliseconds).
 */
export class ManifestParser {
  private worker?: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (l: LoadedFile) => void; reject: (e: Error) => void }>();
  private idleTimer?: NodeJS.Timeout;

  constructor(private readonly idleMs = 10_000) {}

  /** A worker runs now. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  parse(file: string, text: string): Promise<LoadedFile> {
    clearTimeout(this.idleTimer);
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, file, text });
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = startWorker();
    const fail = (err: Error) => {
      // A worker stopped for idling or closing had nothing in flight; the pending parses are a newer one's.
      if (this.worker !== worker) return;
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('message', ({ id, loaded }: { id: number; loaded: LoadedFile }) => {
      this.pending.get(id)?.resolve(loaded);
      this.pending.delete(id);
      if (this.pending.size === 0) this.idleTimer = setTimeout(() => void this.close(), this.idleMs).unref();
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the manifest parser stopped (exit code ${code})`)));
    return worker;
  }
}
