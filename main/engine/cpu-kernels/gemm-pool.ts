import { Worker } from 'node:worker_threads';
import { StudioError } from '../errors.ts';
import type { Arena } from './arena.ts';
import { CTRL, workOn, type KernelExports } from './gemm-task.ts';
import type { GemmWorkerData, GemmWorkerMessage } from './gemm-worker.ts';
import { wasmApi, type WasmModule } from './wasm-api.ts';

/**
 * A thread whose task has made no progress for this long fails the product (and the step) with the reason. One task
 * is a panel of C's columns through the whole reduction: well under a second at any shape we train, even on a
 * machine shared with other jobs. LORA_STUDIO_GEMM_HANG_S overrides it (the wasm and the native pools alike).
 */
const GEMM_HANG_S = 10;

/** How long a job may go without a finished task (LORA_STUDIO_GEMM_HANG_S, else GEMM_HANG_S), in ms. */
export function hangMs(): number {
  const s = Number(process.env.LORA_STUDIO_GEMM_HANG_S);
  return (Number.isFinite(s) && s > 0 ? s : GEMM_HANG_S) * 1000;
}

/** The job a product hands the pool: its control-block slots, already set but for seq, next, done and total. */
type JobSlots = Partial<Record<keyof typeof CTRL, number>>;

/**
 * The calling thread plus `threads − 1` worker threads over shared memory (the arenas and one control block). A
 * product is split into tasks that every thread claims in turn, so 1 and N threads give the same bits (each element
 * of C is summed by one thread in one order). The caller blocks until all are done (Atomics.wait), as a tfjs op must.
 */
export class GemmPool {
  private readonly ctrl: Int32Array;
  private readonly instances = new Map<number, KernelExports>();
  private broken?: StudioError;
  private workerErrors: string[] = [];

  private constructor(
    private readonly module: WasmModule,
    private readonly workers: Worker[],
    control: SharedArrayBuffer,
  ) {
    this.ctrl = new Int32Array(control);
    for (const w of workers) {
      w.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'error') this.workerErrors.push(m.message ?? 'unknown error');
      });
      w.on('error', (e) => this.workerErrors.push(e.message));
      w.unref();
    }
  }

  /** Start the workers (`threads − 1` of them) and wait until each has said it is ready. */
  static async open(threads: number, module: WasmModule): Promise<GemmPool> {
    const control = new SharedArrayBuffer(CTRL.size * 4);
    const hang = Number(process.env.LORA_STUDIO_SIMULATE_GEMM_HANG); // test seam: that worker stops answering
    if (Number.isInteger(hang) && hang > 0) new Int32Array(control)[CTRL.hangThread] = hang;
    const workers: Worker[] = [];
    try {
      for (let t = 1; t < threads; t++) workers.push(startWorker({ control, module, thread: t }));
      await Promise.all(workers.map(ready));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new StudioError(
        `the GEMM worker threads could not start (${(e as Error).message}); try --threads 1`,
        undefined,
        'cpu-kernels/pool-start',
      );
    }
    return new GemmPool(module, workers, control);
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  /** Give every worker (and this thread) kernels over a new arena. */
  addArena(arena: Arena): void {
    this.instances.set(arena.id, new (wasmApi()!.Instance)(this.module, { env: { memory: arena.memory } }).exports as KernelExports);
    for (const w of this.workers) w.postMessage({ type: 'arena', id: arena.id, memory: arena.memory } satisfies GemmWorkerMessage);
  }

  /** This thread's kernels over an arena (pack_a and the like run here alone). */
  kernels(arena: Arena): KernelExports {
    return this.instances.get(arena.id)!;
  }

  /** Run a job of `total` tasks in `arena` on every thread; returns when all are done, or throws if a thread hangs. */
  run(arena: Arena, total: number, slots: JobSlots): void {
    if (this.broken) throw this.broken;
    const ctrl = this.ctrl;
    for (const [k, v] of Object.entries(slots)) ctrl[CTRL[k as keyof typeof CTRL]] = v!;
    ctrl[CTRL.arena] = arena.id;
    ctrl[CTRL.total] = total;
    ctrl[CTRL.done] = 0;
    ctrl[CTRL.failed] = 0;
    // the job's tag is the control block's seq, the value the workers wake up with
    const seq = (Atomics.load(ctrl, CTRL.seq) + 1) & 0x7fff;
    Atomics.store(ctrl, CTRL.next, seq << 16);
    Atomics.store(ctrl, CTRL.seq, seq);
    if (this.workers.length && total > 1) Atomics.notify(ctrl, CTRL.seq);
    workOn(this.kernels(arena), ctrl, seq, 0);
    this.waitFor(total);
  }

  private waitFor(total: number): void {
    const ctrl = this.ctrl;
    const limit = hangMs();
    let done = Atomics.load(ctrl, CTRL.done);
    let since = Date.now();
    while (done < total) {
      if (Atomics.load(ctrl, CTRL.failed)) {
        this.fail(`a GEMM worker thread failed: ${this.workerErrors.at(-1) ?? 'see the log'}`);
      }
      Atomics.wait(ctrl, CTRL.done, done, 50);
      const now = Atomics.load(ctrl, CTRL.done);
      if (now !== done) {
        done = now;
        since = Date.now();
      } else if (Date.now() - since > limit) {
        this.fail(
          `a GEMM worker thread stopped answering: no task finished for ${limit / 1000} s (${done} of ${total} done); ` +
            'the machine may be overloaded, or try --threads 1',
          'cpu-kernels/hung',
        );
      }
    }
  }

  private fail(message: string, code = 'cpu-kernels/failed'): never {
    this.broken = new StudioError(message, undefined, code);
    void this.close();
    throw this.broken;
  }

  /** Tell the workers to leave, and wait until they have (a hung one is terminated). */
  async close(): Promise<void> {
    Atomics.store(this.ctrl, CTRL.quit, 1);
    Atomics.store(this.ctrl, CTRL.seq, (Atomics.load(this.ctrl, CTRL.seq) + 1) & 0x7fff);
    Atomics.notify(this.ctrl, CTRL.seq);
    Atomics.notify(this.ctrl, CTRL.quit);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.threadId < 0) return resolve();
            const timer = setTimeout(() => void w.terminate(), 1000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    this.broken ??= new StudioError('the GEMM thread pool was closed', undefined, 'cpu-kernels/closed');
  }
}

function startWorker(data: GemmWorkerData): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = new URL(fromSource ? './gemm-worker.ts' : './gemm-worker.js', import.meta.url);
  if (!fromSource) return new Worker(file, { workerData: data });
  return new Worker(new URL('../export/ts-worker-boot.mjs', import.meta.url), { workerData: { ...data, entry: file.href } });
}

/** Resolves when the worker has said it is ready; rejects if it fails or exits first. */
function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`a worker exited (code ${code}) before it was ready`)));
  });
}
