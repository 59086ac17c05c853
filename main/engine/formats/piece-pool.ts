import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FormatError, StudioError } from '../errors.ts';
import { PieceRunner, type Chain, type PieceResult, type PieceTask } from './piece-encode.ts';
import type { PieceReply, PieceRequest } from './piece-worker.ts';
import { PIECE_VALUES } from './tensor-pieces.ts';

/** Below this many values an export encodes on its own thread: starting workers (~0.1-0.3 s each) would cost more. */
const PARALLEL_FROM_VALUES = 1 << 24;
/** More workers than this buy nothing: the disk is the bound long before. */
const MAX_THREADS = 8;
/** At most this many bytes of pieces in flight (read, being encoded, or waiting to be written). */
const MAX_IN_FLIGHT_BYTES = 128 * 2 ** 20;

/**
 * How many pieces of `pieceValues` values the writer may pull ahead with `threads` workers, when the export is held
 * to its largest tensor in f32 + 256 MiB: pieces in flight (each ≤ 4 bytes a value in and out) take at most half the
 * largest tensor's f32 size and 128 MiB. A tensor's pieces go to one worker (its error tally), so the others only get
 * work from the next tensors: the look-ahead has to reach past the current tensor for them to be busy.
 */
export function exportLookahead(threads: number, pieceValues: number, largestTensorValues: number): number {
  if (threads === 0) return 1; // encoding on this thread: one piece is made while the last one is written
  const budget = Math.min(MAX_IN_FLIGHT_BYTES, (largestTensorValues * 4) / 2);
  return Math.max(threads + 1, Math.floor(budget / (pieceValues * 4)));
}

/** How an export encodes its pieces: the options every exporter takes. */
export interface ExportPoolOptions {
  /** Worker threads (0: the export's own thread); by default one per core for a model-sized export, none for a small one. */
  threads?: number;
  /** Values per streamed piece (tests lower it to cut small tensors into many pieces). */
  pieceValues?: number;
  /** A pool to use instead of opening one (several exports in a row start their workers once); left open. */
  pool?: PiecePool;
}

/** The pool an export of tensors of these `shapes` uses (see openExportPool), and how to let go of it. */
export async function exportPool(shapes: number[][], opts: ExportPoolOptions): Promise<{ pool: PiecePool; release(): Promise<void> }> {
  if (opts.pool) return { pool: opts.pool, release: async () => {} };
  const pool = await openExportPool(shapes, opts);
  return { pool, release: () => pool.close() };
}

/**
 * A pool for an export of tensors of these `shapes`: `threads` workers when given (0 = encode on this thread;
 * workers that cannot start are then an error), else one per core for a model-sized export and none for a small one;
 * with the look-ahead exportLookahead allows.
 */
export function openExportPool(shapes: number[][], opts: { threads?: number; pieceValues?: number }): Promise<PiecePool> {
  const sizes = shapes.map((s) => s.reduce((a, b) => a * b, 1));
  const values = sizes.reduce((a, b) => a + b, 0);
  const threads =
    opts.threads !== undefined
      ? Math.max(0, Math.floor(opts.threads))
      : values < PARALLEL_FROM_VALUES
        ? 0
        : Math.min(MAX_THREADS, availableParallelism());
  const lookahead = (workers: number) => exportLookahead(workers, opts.pieceValues ?? PIECE_VALUES, Math.max(0, ...sizes));
  return PiecePool.open(threads, { required: opts.threads !== undefined, lookahead });
}

interface Pending {
  resolve(r: PieceResult): void;
  reject(e: Error): void;
  tensor: string;
}

interface Lane {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Encodes pieces (PieceTask) on worker threads while the export's own thread reads and writes, or on this thread
 * when it has no workers. Results come back as promises; the caller awaits them in file order, so the bytes are the
 * same whichever thread encoded a piece. A tensor's pieces (its `chain`) all go to one worker, in order, so its error
 * tally is summed in element order. A worker that fails or dies fails every piece it held, with an error that says so.
 */
export class PiecePool {
  private readonly runner = new PieceRunner();
  private readonly chains = new Map<number, Lane>();
  private nextId = 0;
  private broken?: Error;
  private closing = false;

  private constructor(
    private readonly lanes: Lane[],
    /** Pieces the writer may pull ahead of the one it writes (see exportLookahead). */
    readonly lookahead: number,
  ) {}

  /**
   * A pool of `threads` workers (0: none, pieces are encoded on this thread). When the workers cannot start (a build
   * without the worker file), a pool that was not `required` encodes on this thread, with a warning: the export is
   * slower, not broken. `entry` replaces the worker script (tests).
   */
  static async open(
    threads: number,
    opts: { required?: boolean; entry?: URL; lookahead?: (workers: number) => number } = {},
  ): Promise<PiecePool> {
    const lookahead = opts.lookahead ?? ((workers) => (workers ? 2 * workers + 1 : 1));
    if (threads <= 0) return new PiecePool([], lookahead(0));
    const workers: Worker[] = [];
    try {
      for (let i = 0; i < threads; i++) workers.push(startWorker(opts.entry));
      await Promise.all(workers.map(ready));
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      const why = `the export's worker threads could not start (${(e as Error).message})`;
      if (opts.required) throw new StudioError(`${why}; run it with 0 threads to encode on one thread`, undefined, 'export/worker');
      console.warn(`export: ${why}; encoding on one thread`);
      return new PiecePool([], lookahead(0));
    }
    const pool = new PiecePool(
      workers.map((worker) => ({ worker, pending: new Map() })),
      lookahead(workers.length),
    );
    for (const lane of pool.lanes) pool.listen(lane);
    return pool;
  }

  /** Worker threads in use (0: pieces are encoded on the caller's thread). */
  get threads(): number {
    return this.lanes.length;
  }

  /** Encode one piece. Its raw bytes are handed over (transferred to a worker): do not use them after this call. */
  run(task: PieceTask, chain?: Chain): Promise<PieceResult> {
    if (this.lanes.length === 0) return new Promise((resolve) => resolve(this.runner.run(task, chain)));
    if (this.broken) return Promise.reject(this.broken);
    const lane = (chain && this.chains.get(chain.id)) ?? this.leastBusy();
    if (chain) {
      if (chain.last) this.chains.delete(chain.id);
      else this.chains.set(chain.id, lane);
    }
    const id = this.nextId++;
    const { message, transfer } = request(id, task, chain);
    return new Promise<PieceResult>((resolve, reject) => {
      lane.pending.set(id, { resolve, reject, tensor: task.tensor });
      lane.worker.postMessage(message, transfer);
    });
  }

  /** Stop the workers. Pieces still in flight fail (their export has already failed or finished). */
  async close(): Promise<void> {
    this.closing = true;
    this.fail(new StudioError('the export stopped before this piece was encoded', undefined, 'export/worker'));
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }

  private leastBusy(): Lane {
    return this.lanes.reduce((best, l) => (l.pending.size < best.pending.size ? l : best));
  }

  private listen(lane: Lane): void {
    lane.worker.on('message', (m: PieceReply) => {
      if (m.type === 'ready') return;
      const p = lane.pending.get(m.id);
      if (!p) return;
      lane.pending.delete(m.id);
      if (m.type === 'done') p.resolve({ bytes: m.bytes, scb: m.scb, tally: m.tally });
      else p.reject(rebuildError(m.error));
    });
    const died = (why: string) => {
      if (this.closing) return;
      const tensors = [...new Set([...lane.pending.values()].map((p) => p.tensor))];
      const err = new StudioError(
        `an export worker thread ${why}${tensors.length ? ` while encoding ${tensors.join(', ')}` : ''}; nothing was written`,
        undefined,
        'export/worker',
      );
      this.broken ??= err;
      this.fail(err);
    };
    lane.worker.on('error', (e) => died(`failed (${e.message})`));
    lane.worker.on('exit', (code) => died(`stopped (exit code ${code})`));
  }

  private fail(err: Error): void {
    for (const lane of this.lanes) {
      for (const p of lane.pending.values()) p.reject(err);
      lane.pending.clear();
    }
  }
}

/** The message for one piece and the buffers it hands over: the raw bytes and B's rows move, A is copied. */
function request(id: number, task: PieceTask, chain?: Chain): { message: PieceRequest; transfer: ArrayBuffer[] } {
  const raw = owned(task.raw);
  const transfer = [raw.buffer as ArrayBuffer];
  let delta = task.delta;
  if (delta) {
    delta = { ...delta, a: owned(delta.a), b: delta.b.slice() };
    transfer.push(delta.b.buffer as ArrayBuffer);
  }
  return { message: { id, task: { ...task, raw, delta }, chain }, transfer };
}

/** The array itself when it spans its whole buffer, else a copy (cloning a view would copy all of its buffer). */
function owned<T extends Uint8Array | Float32Array>(x: T): T {
  return x.byteOffset === 0 && x.byteLength === x.buffer.byteLength && x.buffer instanceof ArrayBuffer ? x : (x.slice() as T);
}

function rebuildError(e: { name: string; message: string; code?: string }): Error {
  if (e.name === 'FormatError') return new FormatError(e.message, undefined, e.code);
  if (e.name === 'StudioError') return new StudioError(e.message, undefined, e.code);
  return Object.assign(new Error(e.message), { name: e.name });
}

/** The worker beside this module: the .ts file through tsx when running from source, the built .js in a bundle. */
function startWorker(entry?: URL): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = entry ?? new URL(fromSource ? './piece-worker.ts' : './piece-worker.js', import.meta.url);
  if (!file.pathname.endsWith('.ts')) return new Worker(file);
  return new Worker(new URL('./ts-worker-boot.mjs', import.meta.url), { workerData: { entry: file.href } });
}

/** Resolves when the worker has loaded and said so; rejects if it fails or exits first. */
function ready(worker: Worker): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: PieceReply) => {
      if (m.type !== 'ready') return;
      cleanup();
      resolve();
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`the worker exited (code ${code}) before it was ready`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
