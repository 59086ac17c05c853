// The native CPU kernels' addon (native/, built at install by scripts/build-native.mjs): where it is, whether it
// loads, and OpenBLAS behind it. Every way it can be missing (no compiler at install, another platform, no OpenBLAS,
// a stale build) comes back as a reason, which the caller prints as it falls back to the wasm kernels.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FusedOps } from './fused-ops.ts';

/** The interface version this code calls (native/src/addon.cc's kApiVersion). */
export const NATIVE_API_VERSION = 1;
/** A path to the addon file instead of the built one (a path that does not exist hides it: tests of the fallback). */
export const NATIVE_ADDON_ENV = 'LORA_STUDIO_NATIVE_ADDON';
/** OpenBLAS's file (or several, separated by ':'), tried in order instead of the usual names. */
export const OPENBLAS_ENV = 'LORA_STUDIO_OPENBLAS';

/**
 * The native products' panels: columns of C a task computes, and the reduction length of one block decoded from a
 * stored form (256 × 512 f32: 512 KiB, within a core's L2). Fixed per process, so a job's split into tasks never
 * depends on the thread count (1 and N threads give the same bits).
 */
export const NATIVE_PANEL: [number, number] = [256, 512];
/** OpenBLAS's own working buffer per calling thread (its GEMM_P × GEMM_Q blocks of A and B), as counted for memory. */
const OPENBLAS_THREAD_BYTES = 16 * 2 ** 20;

/**
 * Memory a native pool thread may hold while a training step runs with `seq` tokens a sequence: its decoded panel,
 * the attention backward's score block, OpenBLAS's buffer. The products' operands are tfjs's own tensors, read and
 * written in place: nothing else is copied.
 */
export function nativeThreadBytes(seq: number): number {
  return NATIVE_PANEL[0] * NATIVE_PANEL[1] * 4 + 4 * seq * seq + OPENBLAS_THREAD_BYTES;
}

const ADDON_FILE = 'native/build/Release/lora_studio_cpu.node';
/** What the install-time build wrote about itself (scripts/build-native.mjs). */
const STATUS_FILE = 'native/build/status.json';

export interface BlasInfo {
  blasPath: string;
  corename: string;
  config: string;
  coreNote: string;
}

export interface NativeAddon extends FusedOps {
  version: number;
  init(o: { blas: string[]; quantBlock: number; panel?: [number, number] }): BlasInfo;
  open(o: { threads: number; hangMs: number; simulateHang: number; nf4: Float32Array }): number;
  close(): void;
  upload(mode: number, rows: number, cols: number, data: ArrayBufferView, scales?: Float32Array): object;
  release(handle: object): void;
  product(handle: object, forward: boolean, a: Float32Array, n: number, c: Float32Array): void;
  rowMaxSumExp(x: Float32Array, n: number, v: number, max: Float64Array, sum: Float64Array): void;
  softmaxGrad(x: Float32Array, n: number, v: number, lse: Float64Array, coef: Float32Array, targets: Int32Array, out: Float32Array): void;
}

/** The project root: the folder above this module holding native/ (source layout, or out/main after bundling). */
function projectRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'native', 'binding.gyp'))) return dir;
    dir = path.dirname(dir);
  }
  return undefined;
}

/** Where the addon file is expected (the env override, else the built one). */
export function nativeAddonPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env[NATIVE_ADDON_ENV]) return path.resolve(env[NATIVE_ADDON_ENV]);
  const root = projectRoot();
  return root && path.join(root, ADDON_FILE);
}

/** OpenBLAS's files to try, in order. */
export function openblasCandidates(env: NodeJS.ProcessEnv = process.env, platform = process.platform): string[] {
  if (env[OPENBLAS_ENV]) return env[OPENBLAS_ENV].split(':').filter(Boolean);
  if (platform === 'darwin')
    return ['libopenblas.dylib', '/opt/homebrew/opt/openblas/lib/libopenblas.dylib', '/usr/local/opt/openblas/lib/libopenblas.dylib'];
  return ['libopenblas.so.0', 'libopenblas.so', 'libopenblasp.so.0'];
}

/** Why the build left no addon, from its status file (or a generic line). */
function notBuiltReason(file: string): string {
  try {
    const s = JSON.parse(readFileSync(path.join(projectRoot()!, STATUS_FILE), 'utf8')) as { reason?: string };
    if (s.reason) return `the native kernels were not built at install (${s.reason}); \`npm run build:native\` retries`;
  } catch {
    // no status: never built here
  }
  return `the native kernels are not built (${file} is missing; \`npm run build:native\` builds them)`;
}

/** The addon, or why there is none. Loading is cheap and has no effect until init is called. */
export function loadNativeAddon(env: NodeJS.ProcessEnv = process.env): { addon?: NativeAddon; reason: string } {
  const file = nativeAddonPath(env);
  if (!file) return { reason: `the native kernels' sources (native/) are not beside this installation` };
  if (!existsSync(file)) return { reason: env[NATIVE_ADDON_ENV] ? `${NATIVE_ADDON_ENV}=${file} does not exist` : notBuiltReason(file) };
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(file) as NativeAddon;
  } catch (e) {
    return {
      reason: `the native kernels' addon does not load (${(e as Error).message.split('\n')[0]}); \`npm run build:native\` rebuilds it`,
    };
  }
  if (addon.version !== NATIVE_API_VERSION)
    return {
      reason: `the native kernels' addon is an older build (interface ${addon.version}, this code needs ${NATIVE_API_VERSION}); \`npm run build:native\``,
    };
  return { addon, reason: file };
}
