import { readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withWasmThreadFiles } from '../../main/engine/backend/wasm-threads.ts';

// The worker script as tfjs-backend-wasm hands it to Emscripten: a Blob per pool worker (its shape, cut down).
const WORKER_TEXT =
  'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);' +
  'importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}WasmBackendModuleThreadedSimd(Module)';

describe('the wasm thread pool worker script', () => {
  it('is written once, whole, however many pool workers ask for it (a rewrite raced the workers reading it)', async () => {
    await withWasmThreadFiles(async () => {
      const first = URL.createObjectURL(new Blob([WORKER_TEXT]));
      expect(path.isAbsolute(first)).toBe(true);
      const text = readFileSync(first, 'utf8');
      expect(text).toMatch(/importScripts\(".*tfjs-backend-wasm-threaded-simd\.js"\)\}WasmBackendModuleThreadedSimd/);
      // Mark the file: a second request that rewrote it (as each of the 8 used to) would move its time.
      utimesSync(first, new Date(0), new Date(0));
      const before = statSync(first);
      for (let worker = 2; worker <= 8; worker++) expect(URL.createObjectURL(new Blob([WORKER_TEXT]))).toBe(first);
      const after = statSync(first);
      expect([after.ino, after.mtimeMs, after.size]).toEqual([before.ino, 0, before.size]);
      expect(readFileSync(first, 'utf8')).toBe(text);
      expect(readdirSync(path.dirname(first))).toEqual([path.basename(first)]); // no temp file left beside it
      // Other blobs still get blob: URLs.
      expect(URL.createObjectURL(new Blob(['other']))).toMatch(/^blob:/);
    });
  });
});
