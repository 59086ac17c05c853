import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { withAtomicDir } from '../../main/engine/fs/atomic-dir.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors-writer.ts';
import { workFolder } from '../helpers/work-folder.ts';

// Every fsync the code under test makes, by the path its handle was opened with.
const synced: string[] = [];
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open = async (...args: Parameters<typeof fs.open>) => {
    const handle = await fs.open(...args);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      synced.push(path.basename(String(args[0])));
      return sync();
    };
    return handle;
  };
  return { ...fs, open, default: { ...fs, open } };
});

const tensor = (name: string) => ({ name, dtype: 'F32' as const, shape: [4], data: new Uint8Array(16).fill(1) });

describe('an atomic output folder', () => {
  it('fsyncs every file in it and itself before it goes live; shards written in it skip their own fsync', async () => {
    const out = path.join(workFolder('atomic-sync'), 'merged');
    let syncsWhileFilling = -1;
    let temp = '';
    await withAtomicDir(out, async (dir) => {
      temp = path.basename(dir);
      await writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [tensor('a')], { syncedByFolder: true });
      await writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [tensor('b')], { syncedByFolder: true });
      writeFileSync(path.join(dir, 'config.json'), '{}'); // written plainly, as the exports write their small files
      syncsWhileFilling = synced.length;
    });
    expect(syncsWhileFilling).toBe(0);
    const parent = path.basename(path.dirname(out));
    expect(synced.slice().sort()).toEqual(
      ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', temp, parent].sort(),
    );
    expect(synced.at(-2)).toBe(temp); // the folder after its files
    expect(synced.at(-1)).toBe(parent); // and its parent after the rename, so the rename survives a power cut
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(existsSync(path.join(path.dirname(out), temp))).toBe(false);

    // A file written on its own still fsyncs itself before its rename, and its folder after.
    synced.length = 0;
    await writeSafetensors(path.join(path.dirname(out), 'alone.safetensors'), [tensor('c')]);
    expect(synced).toEqual([expect.stringMatching(/^\.alone\.safetensors\.tmp-/), path.basename(path.dirname(out))]);
  });
});
