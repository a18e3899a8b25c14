import { loadFiles } from './load-files.js';

/** `ballast validate -f FILE|DIR…`: the same loader and error format as dev mode; exit 1 on any error. */
export async function runValidate(targets: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { objects, errors } = await loadFiles(targets);
  for (const e of errors) err.write(`${e}\n`);
  if (errors.length > 0) return 1;
  if (objects.length === 0) {
    err.write(`${targets.join(', ')}: no BalancerPool, Service or EndpointSlice found\n`);
    return 1;
  }
  out.write(`${objects.length} object${objects.length === 1 ? '' : 's'} valid\n`);
  return 0;
}
