// The dashboard's "latest changes": a short, newest-first list of what happened to pools and their
// sources (backends added and removed, listener opened or moved, problems, specs rejected). Sources
// that reject objects write here before the app exists, so it is made first and passed in.

export interface ChangeEntry {
  /** ISO 8601. */
  time: string;
  type: 'Normal' | 'Warning';
  /** A condition-style reason, e.g. BackendsChanged, ListenerFailed, InvalidManifest. */
  reason: string;
  /** What it is about: `BalancerPool shop/web`, or a manifest file. */
  object: string;
  message: string;
}

const KEEP = 50;

export class ChangeLog {
  readonly #entries: ChangeEntry[] = [];
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  record(entry: Omit<ChangeEntry, 'time'>): void {
    this.#entries.unshift({ time: this.#now().toISOString(), ...entry });
    if (this.#entries.length > KEEP) this.#entries.length = KEEP;
  }

  /** A manifest file's errors changed; none means it is valid again (or gone). */
  fileErrors(file: string, errors: readonly string[]): void {
    if (errors.length === 0) this.record({ type: 'Normal', reason: 'ManifestValid', object: file, message: 'the file is valid again' });
    for (const message of errors) this.record({ type: 'Warning', reason: 'InvalidManifest', object: file, message });
  }

  /** Newest first. */
  recent(): readonly ChangeEntry[] {
    return this.#entries;
  }
}
