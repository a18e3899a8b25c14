// Which files are manifests, and how one is read: the one rule that dev mode, `validate` and `render`
// share, so they can never disagree about what a folder declares.
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeFileError } from '../../describe-file-error.js';

export const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** The Kubernetes API server refuses a request body over 3 MiB; no manifest needs more. */
const MAX_MANIFEST_BYTES = 3 * 1024 * 1024;

/** The manifests path names a file where a folder is needed. */
export class NotAFolderError extends Error {
  constructor(readonly folder: string) {
    super(`${folder} is a file, not a folder; pass the folder that holds the manifests`);
  }
}

/** True for a folder (or a link to one), false when nothing is there; throws NotAFolderError for anything else. */
async function isFolder(dir: string): Promise<boolean> {
  const st = await stat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (st && !st.isDirectory()) throw new NotAFolderError(dir);
  return st !== undefined;
}

// kubelet's ConfigMap volumes keep the real files in `..<timestamp>/` and `..data/`, with symlinks
// beside them; editors leave dotfiles (`.web.yaml.swp`) and backups (`web.yaml~`).
const ignoredName = (name: string) => name.startsWith('.') || name.endsWith('~');

/**
 * Every manifest file under `dir`, recursively, sorted. Symlinks are followed (ConfigMap volumes), each
 * folder once (a link to an ancestor is not a loop); only regular files count (a FIFO named x.yaml
 * would block a read forever). Undefined when `dir` does not exist; NotAFolderError when it is a file;
 * an entry that vanishes while listing is skipped.
 */
export async function listManifestFiles(dir: string): Promise<string[] | undefined> {
  const out: string[] = [];
  const visited = new Set<string>();
  const walk = async (folder: string): Promise<void> => {
    const st = await stat(folder);
    if (visited.has(`${st.dev}:${st.ino}`)) return;
    visited.add(`${st.dev}:${st.ino}`);
    for (const name of await readdir(folder)) {
      if (ignoredName(name)) continue;
      const full = path.join(folder, name);
      const entry = await stat(full).catch(() => undefined);
      if (entry?.isDirectory()) await walk(full);
      else if (entry?.isFile() && MANIFEST_EXTENSIONS.includes(path.extname(name))) out.push(full);
    }
  };
  if (!(await isFolder(dir))) return undefined;
  await walk(dir);
  return out.sort();
}

/** A read: the text, the file being gone (ENOENT, the only case that removes what it declared), or why not. */
export type ManifestRead = { text: string } | { gone: true } | { error: string };

/**
 * Reads one manifest, bounded: at most MAX_MANIFEST_BYTES, only a regular file (opened non-blocking,
 * so a FIFO cannot hang the read), and only UTF-8 (a UTF-8 byte order mark is dropped).
 */
export async function readManifestFile(file: string): Promise<ManifestRead> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? { gone: true } : { error: `cannot be read (${describeFileError(e, { code: true })})` };
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) return { error: 'is a folder, not a file' };
    if (!st.isFile()) return { error: 'is not a regular file' };
    const tooBig = { error: `is ${st.size} bytes; manifests are read up to ${MAX_MANIFEST_BYTES} (3 MiB, the Kubernetes API server's request limit)` };
    if (st.size > MAX_MANIFEST_BYTES) return tooBig;
    const bytes = await handle.readFile();
    return bytes.length > MAX_MANIFEST_BYTES ? tooBig : decode(bytes);
  } catch (err) {
    return { error: `cannot be read (${describeFileError(err, { code: true })})` };
  } finally {
    await handle.close();
  }
}

function decode(bytes: Buffer): { text: string } | { error: string } {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return { error: 'is UTF-16 text; save it as UTF-8' };
  if (bytes.includes(0)) return { error: 'is not UTF-8 text (it holds NUL bytes: UTF-16 without a byte order mark?); save it as UTF-8' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { error: 'is not valid UTF-8; save it as UTF-8' };
  }
}
