import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StudioError } from '../../main/engine/errors.ts';
import { withAtomicDir } from '../../main/engine/fs/atomic-dir.ts';
import { writeFileAtomic } from '../../main/engine/fs/atomic-write.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { fsStudioError } from '../../main/engine/fs/fs-errors.ts';
import { mountTmpfs, noMount, type TestMount } from '../helpers/tmpfs.ts';
import { workFolder } from '../helpers/work-folder.ts';

const dir = workFolder('fs-errors');
const aFile = path.join(dir, 'a-file');
writeFileSync(aFile, 'x');

/** The StudioError a promise rejects with (fails the test when it resolves or throws something else). */
async function studioError(p: Promise<unknown>): Promise<StudioError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(StudioError);
  return e as StudioError;
}

describe('fs errors become StudioErrors that name the path and say what to do', () => {
  it('an output folder that is a file (EEXIST / ENOTDIR)', async () => {
    const e = await studioError(withAtomicDir(aFile, async () => undefined));
    expect(e.message).toBe(`${aFile}: is a file, not a folder; give the path of a new folder`);
    const nested = path.join(aFile, 'out.gguf');
    const e2 = await studioError(writeFileAtomic(nested, 'x'));
    expect(e2.message).toMatch(new RegExp(`^${nested}: .*(a file is in the way|part of this path is a file).*\\[E(EXIST|NOTDIR)\\]$`));
  });

  it.skipIf(process.platform !== 'linux')('a folder under /proc (ENOENT on mkdir)', async () => {
    const e = await studioError(withAtomicDir('/proc/x', async () => undefined));
    expect(e.message).toMatch(/^\/proc\/x: cannot create it here: .*ordinary writable folder \[ENOENT\]$/);
    expect(e.code).toBe('fs/enoent');
  });

  it('readGguf on a missing file', async () => {
    const missing = path.join(dir, 'missing.gguf');
    const e = await studioError(readGguf(missing));
    expect(e.message).toBe(`${missing}: no such file or folder; check the path [ENOENT]`);
  });

  it('tells reading from creating by the syscall when the caller does not say', () => {
    const errno = (syscall: string) =>
      Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '/x/y'`), { code: 'ENOENT', syscall, path: '/x/y' });
    expect(fsStudioError(errno('open'))?.message).toBe('/x/y: no such file or folder; check the path [ENOENT]');
    expect(fsStudioError(errno('mkdir'))?.message).toMatch(/^\/x\/y: cannot create it here: /);
  });

  it('leaves other errors alone', () => {
    expect(fsStudioError(new Error('boom'))).toBeUndefined();
    expect(fsStudioError(new StudioError('x'))).toBeUndefined();
  });
});

describe.skipIf(noMount())('on real small mounts (tmpfs)', () => {
  const mounts: TestMount[] = [];
  afterAll(() => mounts.forEach((m) => m.unmount()));

  it('a full disk names the file being written and leaves no temp file', async () => {
    const full = mountTmpfs(64);
    mounts.push(full);
    const target = path.join(full.dir, 'model.safetensors');
    const e = await studioError(writeFileAtomic(target, new Uint8Array(256 * 1024)));
    expect(e.message).toBe(`${target}: the disk is full; free some space or choose another disk (no partial output was kept) [ENOSPC]`);
    expect(readdirSync(full.dir)).toEqual([]);
    // The same inside an atomic folder: the user's folder is named, not the hidden temp one.
    const out = path.join(full.dir, 'merged');
    const e2 = await studioError(
      withAtomicDir(out, (temp) => writeFileAtomic(path.join(temp, 'model.safetensors'), new Uint8Array(256 * 1024))),
    );
    expect(e2.message).toBe(
      `${out}/model.safetensors: the disk is full; free some space or choose another disk (no partial output was kept) [ENOSPC]`,
    );
    expect(readdirSync(full.dir)).toEqual([]);
  });

  it('a read-only file system says so', async () => {
    const ro = mountTmpfs(64, true);
    mounts.push(ro);
    const out = path.join(ro.dir, 'runs', 'r1');
    const e = await studioError(withAtomicDir(out, async () => undefined));
    expect(e.message).toBe(`${out}: the file system is read-only; choose a folder on a writable disk [EROFS]`);
    const e2 = await studioError(writeFileAtomic(path.join(ro.dir, 'x.json'), '{}'));
    expect(e2.code).toBe('fs/erofs');
  });
});
