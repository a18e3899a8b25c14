import { stat } from 'node:fs/promises';
import type { KubeObject } from '../api/schema.js';
import { describeFileError } from '../describe-file-error.js';
import { describeDocumentError, loadManifest, mergeDeclarations } from '../sources/file/manifest-loader.js';
import { listManifestFiles, MANIFEST_EXTENSIONS, readManifestFile } from '../sources/file/manifest-files.js';

/** A named file counts whatever its name (as with kubectl -f); a folder holds what dev mode would read in it. */
async function expand(target: string): Promise<string[]> {
  const st = await stat(target);
  if (!st.isDirectory()) return [target];
  const files = (await listManifestFiles(target)) ?? [];
  if (files.length === 0) throw new Error(`no manifests in this folder (${MANIFEST_EXTENSIONS.map((e) => `*${e}`).join(', ')})`);
  return files;
}

/**
 * The offline commands' loader: files and folders (recursively), with dev mode's file rule, parser,
 * duplicate rule and messages. Every problem is an error here: there is no last good state to keep.
 */
export async function loadFiles(targets: string[]): Promise<{ objects: KubeObject[]; errors: string[] }> {
  const errors: string[] = [];
  const declared: { file: string; display: string; objects: KubeObject[] }[] = [];
  for (const target of targets) {
    let files: string[];
    try {
      files = await expand(target);
    } catch (e) {
      errors.push(`${target}: ${describeFileError(e)}`);
      continue;
    }
    for (const file of files) {
      const read = await readManifestFile(file);
      if (!('text' in read)) {
        errors.push(`${file}: ${'gone' in read ? 'no such file or directory' : read.error}`);
        continue;
      }
      const loaded = loadManifest(file, read.text);
      if (loaded.error) errors.push(`${file}: ${loaded.error}`);
      const objects: KubeObject[] = [];
      for (const doc of loaded.documents) {
        if (doc.ok) objects.push(doc.object);
        else errors.push(describeDocumentError(file, doc));
      }
      declared.push({ file, display: file, objects });
    }
  }
  const merged = mergeDeclarations(declared);
  for (const e of merged.errors.values()) errors.push(...e);
  return { objects: merged.objects, errors };
}
