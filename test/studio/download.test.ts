import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { downloadableFile } from '../../main/server/download.ts';

/** The browser-mode download route hands out files of the runs folder only (links resolved first), nothing else. */
describe('downloadableFile', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'studio-download-'));
  const runs = path.join(root, 'runs');
  const gguf = path.join(runs, 'a', 'exports', 'gguf-q8_0', 'model-q8_0.gguf');
  mkdirSync(path.dirname(gguf), { recursive: true });
  writeFileSync(gguf, Buffer.alloc(1234));
  const secret = path.join(root, 'secret.txt');
  writeFileSync(secret, 'not yours');
  symlinkSync(secret, path.join(runs, 'a', 'exports', 'link.txt'));

  it('gives a file inside the runs folder with its size', () => {
    expect(downloadableFile(runs, gguf)).toEqual({ file: gguf, bytes: 1234 });
  });

  it('refuses a file outside, a link leading outside, a folder, a relative or missing path, each with its reason', () => {
    expect(() => downloadableFile(runs, secret)).toThrow(/only files in the runs folder/);
    expect(() => downloadableFile(runs, path.join(runs, 'a', 'exports', 'link.txt'))).toThrow(/only files in the runs folder/);
    expect(() => downloadableFile(runs, path.join(runs, 'a', '..', '..', 'secret.txt'))).toThrow(/only files in the runs folder/);
    expect(() => downloadableFile(runs, path.dirname(gguf))).toThrow(/not a file/);
    expect(() => downloadableFile(runs, 'a/exports/x.gguf')).toThrow(/absolute path/);
    expect(() => downloadableFile(runs, path.join(runs, 'nope.gguf'))).toThrow(/no such file/);
    expect(() => downloadableFile(runs, null)).toThrow(/absolute path/);
  });
});
