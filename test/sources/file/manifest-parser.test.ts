// The parse worker stops when idle (it holds a V8 heap of its own) and starts again for the next parse.
import { describe, expect, it } from '@jest/globals';
import { ManifestParser } from '../../../src/sources/file/manifest-parser.js';
import { waitFor } from '../../support/wait-for.js';

const pool = (name: string) => `apiVersion: ballast.dev/v1alpha1\nkind: BalancerPool\nmetadata: { name: ${name} }\nspec:\n  endpoints: [{ address: 127.0.0.1, port: 3000 }]\n`;

describe('ManifestParser', () => {
  it('stops its worker after idling, and starts one again for the next parse', async () => {
    const parser = new ManifestParser(100);
    try {
      expect(parser.running).toBe(false);
      const first = await parser.parse('a.yaml', pool('a'));
      expect([first.error, first.documents.length]).toEqual([undefined, 1]);
      expect(parser.running).toBe(true);
      await waitFor(() => !parser.running, 5000);
      // A parse on a fresh worker, and the one in flight when another begins, both answer.
      const [b, c] = await Promise.all([parser.parse('b.yaml', pool('b')), parser.parse('c.yaml', pool('c'))]);
      expect([b.documents.length, c.documents.length]).toEqual([1, 1]);
      await waitFor(() => !parser.running, 5000);
    } finally {
      await parser.close();
    }
  });
});
