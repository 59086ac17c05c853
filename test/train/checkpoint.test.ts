import { readdir, writeFile, mkdir, appendFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  latestGoodCheckpoint,
  listCheckpoints,
  pruneCheckpoints,
  removeStaleTemps,
  requireGoodCheckpoint,
  verifyCheckpoint,
  writeCheckpoint,
} from '../../main/engine/train/checkpoint.ts';
import { workFolder } from '../helpers/work-folder.ts';

async function tempRoot() {
  return workFolder('ckpt-test');
}

describe('checkpoint directories', () => {
  it('writes a complete checkpoint with a manifest that verifies', async () => {
    const root = await tempRoot();
    const dir = await writeCheckpoint(root, 10, async (d) => {
      await writeFile(path.join(d, 'a.bin'), Buffer.from([1, 2, 3]));
      await writeFile(path.join(d, 'state.json'), '{"step":10}');
    });
    expect(path.basename(dir)).toBe('step-10');
    expect((await readdir(dir)).sort()).toEqual(['a.bin', 'manifest.json', 'state.json']);
    expect(await verifyCheckpoint(dir)).toBeUndefined();
  });

  it('leaves nothing behind when writing fails midway', async () => {
    const root = await tempRoot();
    await expect(
      writeCheckpoint(root, 5, async (d) => {
        await writeFile(path.join(d, 'a.bin'), 'x');
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(await readdir(root)).toEqual([]);
  });

  it('detects a corrupted or truncated file and a missing manifest, and falls back to the previous good one', async () => {
    const root = await tempRoot();
    const good = await writeCheckpoint(root, 1, (d) => writeFile(path.join(d, 'w.bin'), 'good'));
    const bad = await writeCheckpoint(root, 2, (d) => writeFile(path.join(d, 'w.bin'), 'fine'));
    await appendFile(path.join(bad, 'w.bin'), 'garbage');
    expect(await verifyCheckpoint(bad)).toMatch(/w\.bin: contents do not match the manifest/);
    const warnings: string[] = [];
    expect(await latestGoodCheckpoint(root, (m) => warnings.push(m))).toBe(good);
    expect(warnings[0]).toContain('step-2');
    await expect(requireGoodCheckpoint(bad)).rejects.toThrow(/cannot resume/);

    const noManifest = path.join(root, 'step-3');
    await mkdir(noManifest);
    await writeFile(path.join(noManifest, 'w.bin'), 'x');
    expect(await verifyCheckpoint(noManifest)).toMatch(/manifest\.json: missing/);
  });

  it('removes stale temp folders and prunes old checkpoints but keeps the protected one', async () => {
    const root = await tempRoot();
    await mkdir(path.join(root, '.tmp-step-9-123-456'));
    expect(await removeStaleTemps(root)).toEqual(['.tmp-step-9-123-456']);
    for (const s of [1, 2, 3, 4, 5]) await writeCheckpoint(root, s, (d) => writeFile(path.join(d, 'x'), String(s)));
    await pruneCheckpoints(root, 2, [path.join(root, 'step-1')]);
    expect((await listCheckpoints(root)).map((c) => c.step)).toEqual([5, 4, 1]);
  });
});
