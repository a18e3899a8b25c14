import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KubeObject } from '../api/schema.js';
import { describeDocumentError, loadManifest, MANIFEST_EXTENSIONS } from '../sources/file/manifest-loader.js';
import { describeFileError } from './errors.js';

async function expand(target: string): Promise<string[]> {
  const st = await stat(target);
  if (!st.isDirectory()) return [target];
  const entries = await readdir(target, { recursive: true });
  return entries
    .filter((e) => MANIFEST_EXTENSIONS.includes(path.extname(e)) && !e.split(path.sep).some((p) => p.startsWith('.')))
    .map((e) => path.join(target, e))
    .sort();
}

/** The offline commands' loader: files and folders (recursively), with dev mode's parser and messages. */
export async function loadFiles(targets: string[]): Promise<{ objects: KubeObject[]; errors: string[] }> {
  const objects: KubeObject[] = [];
  const errors: string[] = [];
  for (const target of targets) {
    let files: string[];
    try {
      files = await expand(target);
    } catch (e) {
      errors.push(`${target}: ${describeFileError(e)}`);
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        // A folder named like a manifest (`d.yaml/`): the recursive listing already holds its files.
        if ((e as NodeJS.ErrnoException).code !== 'EISDIR') errors.push(`${file}: ${describeFileError(e)}`);
        continue;
      }
      const loaded = loadManifest(file, text);
      if (loaded.error) errors.push(`${file}: ${loaded.error}`);
      for (const doc of loaded.documents) {
        if (doc.ok) objects.push(doc.object);
        else errors.push(describeDocumentError(file, doc));
      }
    }
  }
  return { objects, errors };
}
