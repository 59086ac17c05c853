// Which code serves the frozen-weight products on the CPU backends (wasm, cpu, tfjs-node), and why: our GEMM kernels
// with relaxed-SIMD FMA where the runtime has it, SIMD128 otherwise, or tfjs's matMul (resident f32 W, or W decoded
// just in time into a transient f32 tensor: the path before these kernels, kept for comparison).
// LORA_STUDIO_CPU_MATMUL=auto|relaxed-simd|simd128|tfjs overrides.
import { setFlagsFromString } from 'node:v8';
import { StudioError } from '../errors.ts';
import { CpuGemm } from './cpu-gemm.ts';
import { GEMM_RELAXED_BASE64, GEMM_SIMD128_BASE64 } from './gemm-kernels-wasm.ts';
import { wasmApi, type WasmModule } from './wasm-api.ts';

const CPU_MATMUL_CHOICES = ['auto', 'relaxed-simd', 'simd128', 'tfjs'] as const;
type CpuMatmulChoice = (typeof CPU_MATMUL_CHOICES)[number];
const CPU_MATMUL_ENV = 'LORA_STUDIO_CPU_MATMUL';

export interface CpuMatmulPath {
  kernel: 'wasm-relaxed-simd' | 'wasm-simd128' | 'tfjs';
  reason: string;
}

function cpuMatmulChoice(env: NodeJS.ProcessEnv = process.env): CpuMatmulChoice {
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

let chosen: { path: CpuMatmulPath; module?: WasmModule } | undefined;
let gemm: CpuGemm | undefined;
let opening: Promise<CpuGemm> | undefined;

/** Decide the path once per process (the env var, then what the runtime can run). */
export function cpuMatmulPath(): CpuMatmulPath {
  return choose().path;
}

function choose(): { path: CpuMatmulPath; module?: WasmModule } {
  if (chosen) return chosen;
  const choice = cpuMatmulChoice();
  const api = wasmApi();
  if (choice === 'tfjs') {
    chosen = { path: { kernel: 'tfjs', reason: `${CPU_MATMUL_ENV}=tfjs (tfjs matMul: resident f32, or decoded just in time)` } };
    return chosen;
  }
  const simd128 = binary(GEMM_SIMD128_BASE64);
  if (!api || !api.validate(simd128)) {
    if (choice !== 'auto')
      throw new StudioError(
        `${CPU_MATMUL_ENV}=${choice}, but this runtime has no WebAssembly SIMD with shared memory`,
        undefined,
        'cpu-kernels/unsupported',
      );
    chosen = { path: { kernel: 'tfjs', reason: 'this runtime has no WebAssembly SIMD with shared memory' } };
    return chosen;
  }
  if (choice === 'simd128') {
    chosen = { path: { kernel: 'wasm-simd128', reason: `${CPU_MATMUL_ENV}=simd128` }, module: new api.Module(simd128) };
    return chosen;
  }
  const relaxed = relaxedSupport();
  if (relaxed.ok) {
    chosen = { path: { kernel: 'wasm-relaxed-simd', reason: relaxed.how }, module: new api.Module(binary(GEMM_RELAXED_BASE64)) };
  } else if (choice === 'relaxed-simd') {
    throw new StudioError(`${CPU_MATMUL_ENV}=relaxed-simd, but ${relaxed.how}`, undefined, 'cpu-kernels/unsupported');
  } else {
    chosen = { path: { kernel: 'wasm-simd128', reason: `${relaxed.how}: SIMD128 multiply-add instead` }, module: new api.Module(simd128) };
  }
  return chosen;
}

/**
 * The GEMM kernels with their thread pool (`threads` threads, this one included), started once per process;
 * `nf4Levels` is NF4's code book.
 */
export async function openCpuGemm(threads: number, nf4Levels: Float32Array): Promise<CpuGemm | undefined> {
  const { module } = choose();
  if (!module) return undefined;
  opening ??= CpuGemm.open(Math.max(1, threads), module, nf4Levels).then((g) => (gemm = g));
  return opening;
}

/** The kernels once openCpuGemm has run (undefined on the tfjs path or before). */
export function cpuGemm(): CpuGemm | undefined {
  return gemm;
}
