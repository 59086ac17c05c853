// Which code serves the frozen-weight products on the CPU backends (wasm, cpu, tfjs-node), and why: the native
// kernels over OpenBLAS where the addon was built and OpenBLAS loads; else our wasm kernels, with relaxed-SIMD FMA
// where the runtime has it, SIMD128 otherwise; or tfjs's matMul (resident f32 W, or W decoded just in time into a
// transient f32 tensor: the path before these kernels, kept for comparison).
// LORA_STUDIO_CPU_MATMUL=auto|native|relaxed-simd|simd128|tfjs overrides.
import { setFlagsFromString } from 'node:v8';
import { StudioError } from '../errors.ts';
import type { CpuKernels } from './cpu-kernels.ts';
import { CpuGemm } from './cpu-gemm.ts';
import { GEMM_QUANT_BLOCK } from './gemm-wat.ts';
import { GEMM_RELAXED_BASE64, GEMM_SIMD128_BASE64 } from './gemm-kernels-wasm.ts';
import { loadNativeAddon, NATIVE_PANEL, openblasCandidates, type BlasInfo, type NativeAddon } from './native-addon.ts';
import { NativeGemm } from './native-gemm.ts';
import { wasmApi, type WasmModule } from './wasm-api.ts';

export const CPU_MATMUL_CHOICES = ['auto', 'native', 'relaxed-simd', 'simd128', 'tfjs'] as const;
export type CpuMatmulChoice = (typeof CPU_MATMUL_CHOICES)[number];
export const CPU_MATMUL_ENV = 'LORA_STUDIO_CPU_MATMUL';

export interface CpuMatmulPath {
  kernel: 'native-openblas' | 'wasm-relaxed-simd' | 'wasm-simd128' | 'tfjs';
  reason: string;
}

export function cpuMatmulChoice(env: NodeJS.ProcessEnv = process.env): CpuMatmulChoice {
  const v = env[CPU_MATMUL_ENV] || 'auto';
  if ((CPU_MATMUL_CHOICES as readonly string[]).includes(v)) return v as CpuMatmulChoice;
  throw new StudioError(`${CPU_MATMUL_ENV} is "${v}"; use one of ${CPU_MATMUL_CHOICES.join(', ')}`, undefined, 'cpu-kernels/choice');
}

const binary = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/**
 * Whether this runtime runs relaxed SIMD, and how. Node 22+ and Electron have it; Node 20 has it behind V8's
 * --experimental-wasm-relaxed-simd, which V8 still honours when set before the first relaxed module is compiled.
 */
function relaxedSupport(): { ok: boolean; how: string } {
  const api = wasmApi()!;
  const bytes = binary(GEMM_RELAXED_BASE64);
  // test seam: a runtime without relaxed SIMD (Node 20 without V8's flag, an older browser engine)
  const validate = () => process.env.LORA_STUDIO_SIMULATE_NO_RELAXED_SIMD !== '1' && api.validate(bytes);
  if (validate()) return { ok: true, how: 'the runtime has relaxed SIMD' };
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    if (validate()) return { ok: true, how: `relaxed SIMD turned on with V8's flag (Node ${process.versions.node})` };
  } catch {
    // no such flag in this V8: fall through
  }
  return { ok: false, how: `this runtime (Node ${process.versions.node}) has no relaxed SIMD` };
}

interface Chosen {
  path: CpuMatmulPath;
  module?: WasmModule;
  native?: { addon: NativeAddon; blas: BlasInfo };
}

let chosen: Chosen | undefined;
let gemm: CpuKernels | undefined;
let opening: Promise<CpuKernels> | undefined;

/** Decide the path once per process (the env var, then what the machine and runtime can run). */
export function cpuMatmulPath(): CpuMatmulPath {
  return choose().path;
}

/** The native kernels with OpenBLAS loaded, or why not. */
function tryNative(): { addon: NativeAddon; blas: BlasInfo } | string {
  const { addon, reason } = loadNativeAddon();
  if (!addon) return reason;
  try {
    // LORA_STUDIO_NATIVE_PANEL=PC,KC: other panels, for tuning them (bench)
    const tuned = process.env.LORA_STUDIO_NATIVE_PANEL?.split(',').map(Number) as [number, number] | undefined;
    const blas = addon.init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK, panel: tuned ?? NATIVE_PANEL });
    return { addon, blas };
  } catch (e) {
    return (e as Error).message;
  }
}

function describeBlas(b: BlasInfo): string {
  const version = /OpenBLAS [\d.]+/.exec(b.config)?.[0] ?? 'OpenBLAS';
  return `${version} from ${b.blasPath}, ${b.corename} kernels${b.coreNote ? ` (${b.coreNote})` : ''}, with our decoding and fused ops`;
}

function choose(): Chosen {
  if (chosen) return chosen;
  const choice = cpuMatmulChoice();
  if (choice === 'tfjs') {
    chosen = { path: { kernel: 'tfjs', reason: `${CPU_MATMUL_ENV}=tfjs (tfjs matMul: resident f32, or decoded just in time)` } };
    return chosen;
  }
  let fallback = '';
  if (choice === 'auto' || choice === 'native') {
    const native = tryNative();
    if (typeof native !== 'string') {
      chosen = { path: { kernel: 'native-openblas', reason: describeBlas(native.blas) }, native };
      return chosen;
    }
    if (choice === 'native') throw new StudioError(`${CPU_MATMUL_ENV}=native, but ${native}`, undefined, 'cpu-kernels/unsupported');
    fallback = `native kernels unavailable: ${native}; `;
  }
  const api = wasmApi();
  const simd128 = binary(GEMM_SIMD128_BASE64);
  if (!api || !api.validate(simd128)) {
    if (choice !== 'auto')
      throw new StudioError(
        `${CPU_MATMUL_ENV}=${choice}, but this runtime has no WebAssembly SIMD with shared memory`,
        undefined,
        'cpu-kernels/unsupported',
      );
    chosen = { path: { kernel: 'tfjs', reason: `${fallback}this runtime has no WebAssembly SIMD with shared memory` } };
    return chosen;
  }
  if (choice === 'simd128') {
    chosen = { path: { kernel: 'wasm-simd128', reason: `${CPU_MATMUL_ENV}=simd128` }, module: new api.Module(simd128) };
    return chosen;
  }
  const relaxed = relaxedSupport();
  if (relaxed.ok) {
    chosen = { path: { kernel: 'wasm-relaxed-simd', reason: fallback + relaxed.how }, module: new api.Module(binary(GEMM_RELAXED_BASE64)) };
  } else if (choice === 'relaxed-simd') {
    throw new StudioError(`${CPU_MATMUL_ENV}=relaxed-simd, but ${relaxed.how}`, undefined, 'cpu-kernels/unsupported');
  } else {
    chosen = {
      path: { kernel: 'wasm-simd128', reason: `${fallback}${relaxed.how}: SIMD128 multiply-add instead` },
      module: new api.Module(simd128),
    };
  }
  return chosen;
}

/**
 * The kernels with their thread pool (`threads` threads, this one included), started once per process;
 * `nf4Levels` is NF4's code book.
 */
export async function openCpuGemm(threads: number, nf4Levels: Float32Array): Promise<CpuKernels | undefined> {
  const { module, native, path } = choose();
  if (native) {
    opening ??= Promise.resolve().then(() => (gemm = NativeGemm.open(native.addon, native.blas, Math.max(1, threads), nf4Levels)));
    return opening;
  }
  if (!module) return undefined;
  opening ??= CpuGemm.open(Math.max(1, threads), module, nf4Levels, path.kernel).then((g) => (gemm = g));
  return opening;
}

/** The kernels once openCpuGemm has run (undefined on the tfjs path or before). */
export function cpuGemm(): CpuKernels | undefined {
  return gemm;
}

/** Stop the pool's threads (the next openCpuGemm starts a new one). Tests use it; a process that ends needs nothing. */
export async function closeCpuGemm(): Promise<void> {
  const g = gemm;
  gemm = undefined;
  opening = undefined;
  await g?.close();
}
