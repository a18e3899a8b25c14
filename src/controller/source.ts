import type { ObjectKey } from '../api/keys.js';
import type { ObjectKind } from '../api/schema.js';
import type { SourceStore } from './store.js';

/**
 * A source of objects (manifest files, the Kubernetes API). It only fills the store; it never
 * reconciles. Each source owns the objects it fills and keeps them exact.
 */
export interface Source {
  readonly name: string;
  /** Starts filling `store`; resolves once the first full view is in it (the source has synced). */
  start(store: SourceStore): Promise<void>;
  /** Puts the store back in step with the source's own view (a periodic resync); cheap, no I/O. */
  resync?(): void;
  stop(): Promise<void>;
  /** Where an object came from within the source (a file), when the source can tell. */
  origin?(kind: ObjectKind, key: ObjectKey): string | undefined;
}
