// FolderWatcher on real folders: closing it leaves no file watch open, at whatever moment it comes
// while the folder changes hands (one left open kept `ballast dev` from exiting after SIGTERM).
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import { silentLogger } from '../../../src/log.js';
import { FolderWatcher } from '../../../src/sources/file/folder-watcher.js';
import { waitFor } from '../../support/wait-for.js';

/** Open fs.watch handles (inotify watches) of this process. */
const fileWatches = () => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;

describe('FolderWatcher', () => {
  it('leaves no file watch open when closed at any moment of the folder being replaced by a symlink', async () => {
    const before = fileWatches();
    // Not a wait for a state: the close is swept across the moments a SIGTERM could come.
    for (const closeAfterMs of [0, 10, 20, 30, 40, 60, 80, 120]) {
      const base = await mkdtemp(path.join(tmpdir(), 'ballast-watch-'));
      const dir = path.join(base, 'manifests');
      await mkdir(dir);
      await writeFile(path.join(dir, 'web.yaml'), 'x');
      const watcher = new FolderWatcher({ dir, debounceMs: 20, onChange: () => {}, logger: silentLogger });
      await watcher.start();
      await mkdir(path.join(base, 'other'));
      await rm(dir, { recursive: true });
      await symlink(path.join(base, 'other'), dir);
      await delay(closeAfterMs);
      await watcher.close();
      await rm(base, { recursive: true, force: true });
    }
    await waitFor(() => fileWatches() === before, 2000).catch(() => undefined);
    expect(fileWatches()).toBe(before);
  });
});
