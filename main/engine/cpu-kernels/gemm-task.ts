// One GEMM task, run the same way on the calling thread and on the pool's workers: a panel of GEMM_NC columns of C,
// through every k-block (decode-pack the panel, then the register-tiled products). The job's parameters sit in a
// shared Int32Array (the control block) that every thread reads.
import { GEMM_KC, GEMM_MODES, GEMM_NC } from './gemm-wat.ts';

/** Slots of the control block. Pointers are stored as int32 (read back with >>> 0). */
export const CTRL = {
  /** Bumped for each job (and to wake workers to quit). */
  seq: 0,
  quit: 1,
  /** (seq & 0x7fff) << 16 | next task index: a worker of an older job sees another seq and stops claiming. */
  next: 2,
  done: 3,
  total: 4,
  arena: 5,
  direction: 6,
  mode: 7,
  data: 8,
  scales: 9,
  cols: 10,
  apack: 11,
  npad: 12,
  r: 13,
  p: 14,
  c: 15,
  ldc: 16,
  bpack: 17,
  fast: 18,
  failed: 19,
  /** Test seam: the worker with this thread index (1-based) blocks on its first task. */
  hangThread: 20,
  size: 24,
} as const;

export const FORWARD = 0;
export const BACKWARD = 1;
/** x·Wᵀ for one row of x: rows of W decoded in registers (gemv_*), GEMV_ROWS of them a task. */
export const GEMV = 2;
const GEMV_ROWS = 256;

/** Bytes of one thread's packed panel. */
export const PANEL_BYTES = GEMM_KC * GEMM_NC * 4;

export type KernelExports = Record<string, (...args: number[]) => void>;

/** Tasks of a job: panels of GEMM_NC columns of C (GEMV_ROWS rows of W for a matrix-vector product). */
export const taskCount = (p: number, gemv = false) => Math.ceil(p / (gemv ? GEMV_ROWS : GEMM_NC));

/** Run task `task` of the job in `ctrl` with this thread's kernels; `thread` picks its panel buffer. */
function runTask(k: KernelExports, ctrl: Int32Array, task: number, thread: number): void {
  const mode = GEMM_MODES[ctrl[CTRL.mode]];
  const data = ctrl[CTRL.data];
  const scales = ctrl[CTRL.scales];
  const cols = ctrl[CTRL.cols];
  const r = ctrl[CTRL.r];
  const p = ctrl[CTRL.p];
  const npad = ctrl[CTRL.npad];
  const apack = ctrl[CTRL.apack] >>> 0;
  const ldc = ctrl[CTRL.ldc];
  const fast = ctrl[CTRL.fast];
  if (ctrl[CTRL.direction] === GEMV) {
    const m0 = task * GEMV_ROWS;
    k[`gemv_${mode}`](data, scales, cols, apack, m0, Math.min(GEMV_ROWS, p - m0), ctrl[CTRL.c] >>> 0, fast);
    return;
  }
  const bpack = (ctrl[CTRL.bpack] >>> 0) + thread * PANEL_BYTES;
  const p0 = task * GEMM_NC;
  const valid = Math.min(GEMM_NC, p - p0);
  const strips = Math.ceil(valid / 8);
  const c = (ctrl[CTRL.c] >>> 0) + p0 * 4;
  const forward = ctrl[CTRL.direction] === FORWARD;
  const pack = k[forward ? `pack_t_${mode}` : `pack_n_${mode}`];
  for (let k0 = 0; k0 < r; k0 += GEMM_KC) {
    const kc = Math.min(GEMM_KC, r - k0);
    if (forward) pack(data, scales, cols, p0, valid, strips, k0, kc, bpack, fast);
    else pack(data, scales, cols, k0, kc, p0, valid, strips, bpack, fast);
    k.gemm_panel(apack + k0 * npad * 4, npad, kc, bpack, strips, c, ldc, k0 > 0 ? 1 : 0);
  }
}

/**
 * Claim and run tasks of job `seq` until none is left; returns how many this thread ran. A claim is a
 * compare-and-swap on the `next` slot tagged with the job's seq, so a late thread never takes a later job's task.
 */
export function workOn(k: KernelExports, ctrl: Int32Array, seq: number, thread: number, onTask?: () => void): number {
  const tag = (seq & 0x7fff) << 16;
  let ran = 0;
  for (;;) {
    const cur = Atomics.load(ctrl, CTRL.next);
    if ((cur & ~0xffff) !== tag) return ran;
    const task = cur & 0xffff;
    if (task >= ctrl[CTRL.total]) return ran;
    if (Atomics.compareExchange(ctrl, CTRL.next, cur, cur + 1) !== cur) continue;
    onTask?.();
    runTask(k, ctrl, task, thread);
    ran++;
    Atomics.add(ctrl, CTRL.done, 1);
    Atomics.notify(ctrl, CTRL.done);
  }
}
