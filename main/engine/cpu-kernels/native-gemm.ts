import { StudioError } from '../errors.ts';
import type { CpuKernels, CpuMatrix, Direction, GemmMatrixInput } from './cpu-kernels.ts';
import type { FusedOps } from './fused-ops.ts';
import { hangMs } from './gemm-pool.ts';
import { GEMM_MODES, GEMM_QUANT_BLOCK } from './gemm-wat.ts';
import type { BlasInfo, NativeAddon } from './native-addon.ts';

/** A matrix held by the addon (its bytes in native memory, freed on release or when the handle is collected). */
interface NativeMatrix extends CpuMatrix {
  readonly handle: object;
}

/**
 * The native kernels (native/, OpenBLAS behind them): f32 products in OpenBLAS's sgemm, the stored forms decoded a
 * cache-sized panel at a time into it, matrix-vector products decoding W in registers, and the fused ops of a layer,
 * all on a pool of `threads` threads (this one included) that splits each job into tasks independent of the thread
 * count. A thread that stops answering fails the call within `hangMs`.
 */
export class NativeGemm implements CpuKernels {
  readonly kernel = 'native-openblas';
  readonly fused: FusedOps;

  private constructor(
    private readonly addon: NativeAddon,
    readonly threads: number,
    readonly blas: BlasInfo,
  ) {
    this.fused = wrapErrors(addon);
  }

  /** Start the pool (the addon's init has loaded OpenBLAS); `nf4` is NF4's code book. */
  static open(addon: NativeAddon, blas: BlasInfo, threads: number, nf4: Float32Array): NativeGemm {
    // test seam: the worker with this index stops answering on its first task
    const simulateHang = Number(process.env.LORA_STUDIO_SIMULATE_GEMM_HANG) || 0;
    return new NativeGemm(
      addon,
      guard(() => addon.open({ threads, hangMs: hangMs(), simulateHang, nf4 })),
      blas,
    );
  }

  upload(m: GemmMatrixInput): CpuMatrix {
    const handle = guard(() => this.addon.upload(GEMM_MODES.indexOf(m.mode), m.rows, m.cols, m.values, m.scales));
    const storedBytes = m.values.byteLength + (m.scales ? 4 * Math.ceil((m.rows * m.cols) / GEMM_QUANT_BLOCK) : 0);
    const matrix: NativeMatrix = { rows: m.rows, cols: m.cols, dtype: m.mode, storedBytes, released: false, handle };
    return matrix;
  }

  release(m: CpuMatrix): void {
    if (m.released) return;
    m.released = true;
    this.addon.release((m as NativeMatrix).handle);
  }

  product(m: CpuMatrix, direction: Direction, a: Float32Array, n: number, out: Float32Array): void {
    if (m.released) throw new Error('product: the matrix was released');
    guard(() => this.addon.product((m as NativeMatrix).handle, direction === 'xwt', a, n, out));
  }

  rowMaxSumExp(x: Float32Array, n: number, v: number): { max: Float64Array; sum: Float64Array } {
    const max = new Float64Array(n);
    const sum = new Float64Array(n);
    guard(() => this.addon.rowMaxSumExp(x, n, v, max, sum));
    return { max, sum };
  }

  softmaxGrad(x: Float32Array, n: number, v: number, lse: Float64Array, coef: Float32Array, targets: Int32Array, out: Float32Array): void {
    guard(() => this.addon.softmaxGrad(x, n, v, lse, coef, targets, out));
  }

  close(): Promise<void> {
    this.addon.close();
    return Promise.resolve();
  }
}

/** The addon's errors as StudioErrors: a hung thread (cpu-kernels/hung) or another failure (cpu-kernels/failed). */
function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof StudioError) throw e;
    const message = (e as Error).message;
    throw new StudioError(message, undefined, /stopped answering/.test(message) ? 'cpu-kernels/hung' : 'cpu-kernels/failed');
  }
}

function wrapErrors(addon: NativeAddon): FusedOps {
  const names = [
    'sgemm',
    'rmsNormForward',
    'rmsNormBackward',
    'swigluForward',
    'swigluBackward',
    'attentionForward',
    'attentionBackward',
  ] as const;
  const out = {} as Record<(typeof names)[number], (...args: unknown[]) => void>;
  for (const name of names) {
    const f = addon[name] as (...args: unknown[]) => void;
    out[name] = (...args) => guard(() => f.apply(addon, args));
  }
  return out as unknown as FusedOps;
}
