import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

/**
 * tfjs-backend-wasm refuses threads in Node (tfjs issue 3830): it hands Emscripten its pthread worker and main
 * script as `blob:` URLs, which Node's worker_threads cannot load. We let it run the threaded SIMD build anyway by
 * catching the worker script's Blob while the backend initialises: it is written to a real file whose path is
 * returned instead of a blob: URL, with its "import the main script from a Blob" step pointed at the package's own
 * `wasm-out/tfjs-backend-wasm-threaded-simd.js`. Everything is restored once `init` settles; the file lives in a
 * temp folder removed at exit.
 *
 * Emscripten asks for the worker script once per pool worker (8 times), while the workers it already made are
 * reading it. The file is written once, whole (temp file + rename): rewriting it in place for each worker let a
 * worker now and then read it truncated to nothing, so that worker never reported loaded and the start hung.
 */
export async function withWasmThreadFiles<T>(init: () => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'lora-studio-wasm-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const packageDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const mainScript = path.join(packageDir, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const workerScript = path.join(dir, 'tfjs-backend-wasm.worker.js');

  const texts = new WeakMap<Blob, string>();
  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;

  class RecordingBlob extends RealBlob {
    constructor(...args: ConstructorParameters<typeof Blob>) {
      super(...args);
      const parts = args[0];
      if (parts?.every((p) => typeof p === 'string')) {
        texts.set(this, (parts as string[]).join(''));
      }
    }
  }

  globalThis.Blob = RecordingBlob as typeof Blob;
  let written = false;
  URL.createObjectURL = (blob: Blob): string => {
    const text = texts.get(blob);
    if (text === undefined || !text.includes('WasmBackendModuleThreadedSimd(Module)')) return realCreateObjectURL(blob);
    if (written) return workerScript;
    const patched = text.replace(
      /var objectUrl=URL\.createObjectURL\(e\.data\.urlOrBlob\);importScripts\(objectUrl\);URL\.revokeObjectURL\(objectUrl\)/,
      `importScripts(${JSON.stringify(mainScript)})`,
    );
    if (patched === text) throw new Error('tfjs-backend-wasm worker script has an unexpected shape; cannot enable threads');
    writeFileSync(`${workerScript}.partial`, patched);
    renameSync(`${workerScript}.partial`, workerScript);
    written = true;
    return workerScript;
  };
  try {
    return await init();
  } finally {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreateObjectURL;
  }
}
