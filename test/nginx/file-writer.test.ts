import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { watch } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../src/log.js';
import { NginxFileWriter } from '../../src/nginx/file-writer.js';
import { configHash, renderUpstream } from '../../src/plan/nginx-upstream.js';
import { planWithAddress, nginxPlan } from '../support/nginx.js';
import { waitFor } from '../support/wait-for.js';

let dir: string;
beforeEach(async () => {
  dir = path.join(await mkdtemp(path.join(os.tmpdir(), 'ballast-files-')), 'upstreams');
});
afterEach(async () => rm(path.dirname(dir), { recursive: true, force: true }));

const plan = (port: number, spec: Record<string, unknown> = {}) => nginxPlan('web', { endpoints: [{ address: '127.0.0.1', port }], ...spec });

describe('NginxFileWriter', () => {
  it('writes <upstream>.conf (creating the folder) and reports the ConfigMap name and hash', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    const p = plan(3000);
    const report = await writer.apply(p.key, p);
    const text = await readFile(path.join(dir, 'default_web.conf'), 'utf8');
    expect(text).toBe(renderUpstream(p));
    expect(report).toEqual({ facts: { configMap: 'web-nginx', hash: configHash(text) } });
    expect(await readdir(dir)).toEqual(['default_web.conf']);
  });

  it('replaces the file by rename, never in place, and only when the content changed', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    await writer.apply('default/web', plan(3000));
    const file = path.join(dir, 'default_web.conf');
    const first = await stat(file);

    // Watching the folder shows how the file was replaced: an in-place write would change the inode
    // and show no temp file; the atomic write shows the temp name, and the inode changes.
    const events: string[] = [];
    const watcher = watch(dir, (_event, name) => name && events.push(name));
    try {
      await writer.apply('default/web', plan(3000, { retries: 3 })); // a different plan, the same upstream text
      expect((await stat(file)).ino).toBe(first.ino);

      await writer.apply('default/web', plan(3001));
      const second = await stat(file);
      expect(second.ino).not.toBe(first.ino);
      expect(await readFile(file, 'utf8')).toContain('server 127.0.0.1:3001 ');
      await waitFor(() => events.some((n) => /^\.default_web\.conf\.[0-9a-f]+\.tmp$/.test(n)), 2000);
    } finally {
      watcher.close();
    }
    expect(await readdir(dir)).toEqual(['default_web.conf']);
  });

  it('does not rewrite an identical file left by an earlier run', async () => {
    const p = plan(3000);
    await new NginxFileWriter({ dir, logger: silentLogger }).apply(p.key, p);
    const before = await stat(path.join(dir, 'default_web.conf'));
    await new NginxFileWriter({ dir, logger: silentLogger }).apply(p.key, p);
    expect((await stat(path.join(dir, 'default_web.conf'))).ino).toBe(before.ino);
  });

  it('removes the file when the pool goes, or drops spec.nginx, or renames its upstream', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    await writer.apply('default/web', plan(3000));
    await writer.apply('default/web', plan(3000, { nginx: { upstream: 'web_v2' } }));
    expect(await readdir(dir)).toEqual(['web_v2.conf']);
    await writer.apply('default/web', { ...plan(3000), nginx: undefined });
    expect(await readdir(dir)).toEqual([]);
    await writer.apply('default/web', plan(3000));
    await writer.apply('default/web', undefined);
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports a bad plan and keeps the last good file', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    await writer.apply('default/web', plan(3000));
    const good = await readFile(path.join(dir, 'default_web.conf'), 'utf8');
    const bad = planWithAddress('web', 'x y');
    const report = await writer.apply('default/web', bad);
    expect(report.problem?.reason).toBe('InvalidBackendAddress');
    expect(await readFile(path.join(dir, 'default_web.conf'), 'utf8')).toBe(good);
  });

  it('refuses a second pool that would write the same upstream file', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    await writer.apply('default/web', plan(3000));
    const other = nginxPlan('api', { endpoints: [{ address: '127.0.0.1', port: 4000 }], nginx: { upstream: 'default_web' } });
    const report = await writer.apply(other.key, other);
    expect(report.problem).toEqual({
      reason: 'UpstreamConflict',
      message: 'upstream default_web is already written for pool default/web; set spec.nginx.upstream to a unique name',
    });
    expect(await readFile(path.join(dir, 'default_web.conf'), 'utf8')).toContain(':3000 ');
  });

  it('overwrites whatever else is in the file', async () => {
    const writer = new NginxFileWriter({ dir, logger: silentLogger });
    await writer.apply('default/web', plan(3000));
    await writeFile(path.join(dir, 'default_web.conf'), 'hand edited');
    await new NginxFileWriter({ dir, logger: silentLogger }).apply('default/web', plan(3000));
    expect(await readFile(path.join(dir, 'default_web.conf'), 'utf8')).toBe(renderUpstream(plan(3000)));
  });
});
