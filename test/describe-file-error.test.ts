// File errors as messages read them, from real failed file operations.
import { mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { describeFileError } from '../src/describe-file-error.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ballast-errno-'));
  await writeFile(path.join(dir, 'file'), 'x');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const failure = (op: () => Promise<unknown>) => op().then(() => { throw new Error('expected the operation to fail'); }, (err: unknown) => err);

describe('describeFileError', () => {
  it.each([
    ['a missing file', () => readFile(path.join(dir, 'missing')), 'no such file or directory', 'ENOENT: no such file or directory'],
    ['a folder read as a file', () => readFile(dir), 'is a folder, not a file', 'EISDIR: is a folder, not a file'],
    ['a file used as a folder', () => readFile(path.join(dir, 'file', 'x')), 'a part of the path is not a folder', 'ENOTDIR: a part of the path is not a folder'],
  ])('%s: the reason without the path, with the code on request', async (_what, op, text, withCode) => {
    const err = await failure(op);
    expect(describeFileError(err)).toBe(text);
    expect(describeFileError(err, { code: true })).toBe(withCode);
    expect(describeFileError(err)).not.toContain(dir);
  });

  it("keeps Node's words for a code it has no text of, without the path", async () => {
    const err = await failure(() => rmdir(dir));
    expect(describeFileError(err)).toBe('directory not empty');
    expect(describeFileError(err, { code: true })).toBe('ENOTEMPTY: directory not empty');
  });

  it('is the message of an error without an errno code', () => {
    expect(describeFileError(new Error('no manifests in this folder (*.yaml)'))).toBe('no manifests in this folder (*.yaml)');
  });
});
