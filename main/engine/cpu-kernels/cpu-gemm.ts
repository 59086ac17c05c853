import { Arena } from './arena.ts';
import type { CpuKernels, CpuMatrix, Direction, GemmMatrixInput } from './cpu-kernels.ts';
import { GemmPool } from './gemm-pool.ts';
import { BACKWARD, FORWARD, GEMV, PANEL_BYTES, taskCount } from './gemm-task.ts';
import { GEMM_MODES, GEMM_MR } from './gemm-wat.ts';
import type { WasmModule } from './wasm-api.ts';

/**
 * Weights an arena takes before a new one is opened: the rest of its 4 GiB is left for products' operands (a
 * TinyLlama lm_head's output at 1,024 tokens is 125 MiB).
 */
const ARENA_WEIGHT_BYTES = 3 * 2 ** 30;

/** A frozen matrix W [rows, cols] placed in an arena in its stored form. */
interface WasmMatrix extends CpuMatrix {
  readonly arena: Arena;
  /** Where its values (f32, 16-bit bits, int8 or NF4 codes) and its block scales start. */
  readonly data: number;
  readonly scales: number;
  readonly dataBytes: number;
  readonly scaleBytes: number;
}

/** The wasm SIMD GEMM kernels (gemm-wat.ts), in one build: the fallback where the native kernels cannot run. */
export class CpuGemm implements CpuKernels {
  private readonly arenas: Arena[] = [];

  private constructor(
    private readonly pool: GemmPool,
    private readonly nf4Levels: Float32Array,
    readonly kernel: string,
  ) {}

  /** The kernels on `threads` threads (this one included); `nf4Levels` is NF4's code book. */
  static async open(threads: number, module: WasmModule, nf4Levels: Float32Array, kernel = 'wasm'): Promise<CpuGemm> {
    return new CpuGemm(await GemmPool.open(threads, module), nf4Levels, kernel);
  }

  get threads(): number {
    return this.pool.threads;
  }

  /** Copy a stored matrix into an arena (its bytes as they are: nothing is decoded here). */
  upload(m: GemmMatrixInput): WasmMatrix {
    const view = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const values = view(m.values);
    const scales = m.scales && view(m.scales);
    const bytes = values.byteLength + (scales?.byteLength ?? 0);
    let arena = this.arenas.find((a) => a.weightBytes + bytes <= ARENA_WEIGHT_BYTES);
    if (!arena) {
      arena = new Arena(this.arenas.length, this.nf4Levels);
      this.arenas.push(arena);
      this.pool.addArena(arena);
    }
    const data = arena.alloc(values.byteLength)!;
    arena.bytes(data, values.byteLength).set(values);
    const scaleAt = scales ? arena.alloc(scales.byteLength)! : 0;
    if (scales) arena.bytes(scaleAt, scales.byteLength).set(scales);
    arena.weightBytes += bytes;
    return {
      rows: m.rows,
      cols: m.cols,
      dtype: m.mode,
      arena,
      data,
      scales: scaleAt,
      dataBytes: values.byteLength,
      scaleBytes: scales?.byteLength ?? 0,
      storedBytes: bytes,
      released: false,
    };
  }

  /** Give a matrix's bytes back to its arena (the arena keeps the pages for the next one). */
  release(matrix: CpuMatrix): void {
    const m = matrix as WasmMatrix;
    if (m.released) return;
    m.released = true;
    m.arena.release(m.data, m.dataBytes);
    if (m.scaleBytes) m.arena.release(m.scales, m.scaleBytes);
    m.arena.weightBytes -= m.dataBytes + m.scaleBytes;
  }

  /** One product with W decoded from its stored form inside the kernels: x [n, cols] ('xwt') or dy [n, rows] ('dyw') → out. */
  product(matrix: CpuMatrix, direction: Direction, a: Float32Array, n: number, out: Float32Array): void {
    this.productView(matrix as WasmMatrix, direction, a, n, (c) => out.set(c));
  }

  /** The same, handing `use` the result as a view of the arena, valid only during the call. */
  productView<T>(m: WasmMatrix, direction: Direction, a: Float32Array, n: number, use: (c: Float32Array) => T): T {
    if (m.released) throw new Error('gemmProduct: the matrix was released');
    const forward = direction === 'xwt';
    const r = forward ? m.cols : m.rows;
    const p = forward ? m.rows : m.cols;
    if (a.length !== n * r) throw new Error(`gemmProduct: input has ${a.length} values, expected ${n} × ${r}`);
    const { arena } = m;
    const blocked = m.dtype === 'int8' || m.dtype === 'nf4';
    if (forward && n === 1) return this.gemv(m, a, p, blocked, use);
    const npad = Math.ceil(n / GEMM_MR) * GEMM_MR;
    const ldcValues = Math.ceil(p / 8) * 8;
    const rawBytes = 4 * n * r;
    const apackBytes = 4 * npad * r;
    const cBytes = 4 * npad * ldcValues;
    const panelBytes = PANEL_BYTES * this.pool.threads;
    const raw = arena.alloc(rawBytes + apackBytes + cBytes + panelBytes);
    if (raw === undefined) throw new Error(`gemmProduct: no room in the arena for a [${n}, ${r}] × [${r}, ${p}] product`);
    try {
      const apack = raw + rawBytes;
      const c = apack + apackBytes;
      const bpack = c + cBytes;
      arena.floats(raw, n * r).set(a);
      this.pool.kernels(arena).pack_a(raw, n, r, npad, apack);
      this.pool.run(arena, taskCount(p), {
        direction: forward ? FORWARD : BACKWARD,
        mode: GEMM_MODES.indexOf(m.dtype),
        data: m.data,
        scales: m.scales,
        cols: m.cols,
        apack,
        npad,
        r,
        p,
        c,
        ldc: 4 * ldcValues,
        bpack,
        fast: !blocked || m.cols % (forward ? 4 : 8) === 0 ? 1 : 0,
      });
      const out = arena.floats(c, npad * ldcValues);
      if (ldcValues !== p) for (let i = 1; i < n; i++) out.copyWithin(i * p, i * ldcValues, i * ldcValues + p);
      return use(out.subarray(0, n * p));
    } finally {
      arena.release(raw, rawBytes + apackBytes + cBytes + panelBytes);
    }
  }

  /**
   * Row statistics of logits x [n, v] for a cross-entropy: per row its max and Σ exp(x − max), in f64 (the last
   * v mod 4 values of a row are taken in JS).
   */
  rowMaxSumExp(x: Float32Array, n: number, v: number): { max: Float64Array; sum: Float64Array } {
    const v4 = v - (v % 4);
    return this.withScratch(4 * n * v + 8 * n, (arena, at) => {
      arena.floats(at, n * v).set(x);
      this.pool.kernels(arena).row_max_sumexp(at, n, v, v4, at + 4 * n * v);
      const stats = arena.floats(at + 4 * n * v, 2 * n);
      const max = new Float64Array(n);
      const sum = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let m = stats[2 * i];
        for (let j = v4; j < v; j++) m = Math.max(m, x[i * v + j]);
        let s = m === stats[2 * i] ? stats[2 * i + 1] : stats[2 * i + 1] * Math.exp(stats[2 * i] - m);
        for (let j = v4; j < v; j++) s += Math.exp(x[i * v + j] - m);
        max[i] = m;
        sum[i] = s;
      }
      return { max, sum };
    });
  }

  /**
   * The gradient of Σ coef[i] · (lse[i] − x[i, target[i]]) with respect to x [n, v]: (softmax(x) − onehot) · coef,
   * written into `out`.
   */
  softmaxGrad(x: Float32Array, n: number, v: number, lse: Float64Array, coef: Float32Array, targets: Int32Array, out: Float32Array): void {
    const v4 = v - (v % 4);
    return this.withScratch(8 * n * v + 8 * n, (arena, at) => {
      const grad = at + 4 * n * v;
      const rows = grad + 4 * n * v;
      arena.floats(at, n * v).set(x);
      arena.floats(rows, n).set(lse);
      arena.floats(rows + 4 * n, n).set(coef);
      this.pool.kernels(arena).softmax_grad(at, n, v, v4, rows, rows + 4 * n, grad);
      const g = arena.floats(grad, n * v);
      for (let i = 0; i < n; i++) {
        for (let j = v4; j < v; j++) g[i * v + j] = Math.exp(x[i * v + j] - lse[i]) * coef[i];
        g[i * v + targets[i]] -= coef[i];
      }
      out.set(g);
    });
  }

  /** `bytes` of scratch in the first arena with room for them, for the length of `f`. */
  private withScratch<T>(bytes: number, f: (arena: Arena, at: number) => T): T {
    if (!this.arenas.length) {
      this.arenas.push(new Arena(0, this.nf4Levels));
      this.pool.addArena(this.arenas[0]);
    }
    for (const arena of this.arenas) {
      const at = arena.alloc(bytes);
      if (at === undefined) continue;
      try {
        return f(arena, at);
      } finally {
        arena.release(at, bytes);
      }
    }
    throw new Error(`CpuGemm: no room for ${bytes} bytes of scratch`);
  }

  /** x·Wᵀ for one row of x (decode): W decoded in registers, row by row, no panel. */
  private gemv<T>(m: WasmMatrix, x: Float32Array, p: number, blocked: boolean, use: (c: Float32Array) => T): T {
    const { arena } = m;
    const bytes = 4 * (x.length + p);
    const at = arena.alloc(bytes);
    if (at === undefined) throw new Error('gemmProduct: no room in the arena for a matrix-vector product');
    try {
      const y = at + 4 * x.length;
      arena.floats(at, x.length).set(x);
      this.pool.run(arena, taskCount(p, true), {
        direction: GEMV,
        mode: GEMM_MODES.indexOf(m.dtype),
        data: m.data,
        scales: m.scales,
        cols: m.cols,
        apack: at,
        p,
        c: y,
        fast: !blocked || m.cols % 4 === 0 ? 1 : 0,
      });
      return use(arena.floats(y, p));
    } finally {
      arena.release(at, bytes);
    }
  }

  /** Stop the worker threads. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
