import { describe, expect, it } from '@jest/globals';
import { readiness, type ReadinessInput } from '../../src/admin/readiness.js';

const base: ReadinessInput = { stopping: false, synced: true, unreconciled: [], listeners: [] };
const web = { pool: 'default/web', open: true };
const busy = { pool: 'default/busy', open: false, problem: 'cannot listen on 127.0.0.1:8080: EADDRINUSE' };

describe('readiness', () => {
  it.each<[string, Partial<ReadinessInput>, boolean, string[]]>([
    ['all is well', { listeners: [web] }, true, ['[+]shutdown ok', '[+]sources ok', '[+]reconcile ok', '[+]listeners ok: 1 of 1 open', 'readyz check passed']],
    ['an NGINX-only process has no listener to wait for', {}, true, ['[+]shutdown ok', '[+]sources ok', '[+]reconcile ok', '[+]listeners ok: none planned', 'readyz check passed']],
    ['sources not synced', { synced: false }, false, ['[+]shutdown ok', '[-]sources failed: not synced yet', '[+]reconcile ok', '[+]listeners ok: none planned', 'readyz check failed']],
    [
      'a first reconcile still to succeed',
      { unreconciled: ['default/a', 'default/b'] },
      false,
      ['[+]shutdown ok', '[+]sources ok', '[-]reconcile failed: no successful reconcile yet for default/a, default/b', '[+]listeners ok: none planned', 'readyz check failed'],
    ],
    [
      'the only listener failed (a sidecar)',
      { listeners: [busy] },
      false,
      ['[+]shutdown ok', '[+]sources ok', '[+]reconcile ok', '[-]listeners failed: 0 of 1 open', '    default/busy: cannot listen on 127.0.0.1:8080: EADDRINUSE', 'readyz check failed'],
    ],
    [
      'one failed listener among serving ones is listed, and does not fail readiness',
      { listeners: [web, busy] },
      true,
      ['[+]shutdown ok', '[+]sources ok', '[+]reconcile ok', '[+]listeners ok: 1 of 2 open', '    default/busy: cannot listen on 127.0.0.1:8080: EADDRINUSE', 'readyz check passed'],
    ],
    ['shutting down', { stopping: true, listeners: [web] }, false, ['[-]shutdown failed: shutting down', '[+]sources ok', '[+]reconcile ok', '[+]listeners ok: 1 of 1 open', 'readyz check failed']],
  ])('%s', (_name, input, ready, lines) => {
    expect(readiness({ ...base, ...input })).toEqual({ ready, body: lines.join('\n') + '\n' });
  });

  it('lists at most ten pools still to reconcile', () => {
    const unreconciled = Array.from({ length: 12 }, (_, i) => `default/p${String(i).padStart(2, '0')}`);
    expect(readiness({ ...base, unreconciled }).body).toContain('for default/p00, default/p01, default/p02, default/p03, default/p04, default/p05, default/p06, default/p07, default/p08, default/p09 and 2 more\n');
  });
});
