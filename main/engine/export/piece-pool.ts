import { Worker } from 'node:worker_threads';
import { FormatError, StudioError } from '../errors.ts';
import { pieceOutputBytes, PieceRunner, type Chain, type PieceResult, type PieceTask } from './piece-encode.ts';
import { PieceSlots, type PieceSlot } from './piece-slots.ts';
import type { PieceReply, PieceRequest } from './piece-worker.ts';

interface Pending {
  resolve(r: PieceResult): void;
  reject(e: Error): void;
  tensor: string;
  /** The slot's output the worker encodes into. */
  into: Uint8Array;
}

interface Lane {
  worker: Worker;
  pending: Map<number, Pending>;
}

/**
 * Encodes pieces (PieceTask) on worker threads while the export's own thread reads and writes, or on this thread
 * when it has no workers. Results come back as promises; the caller awaits them in file order, so the bytes are the
 * same whichever thread encoded a piece. A tensor's pieces (its `chain`) all go to one worker, in order, so its error
 * tally is summed in its order. A worker that fails or dies fails every piece it held, with an error that says so.
 */
export class PiecePool {
  private readonly runner = new PieceRunner();
  private readonly chains = new Map<number, Lane>();
  private nextId = 0;
  private broken?: Error;
  private closing = false;

  /** Where pieces live from their read to their write: the one being written, the look-ahead, and one more. */
  readonly slots: PieceSlots;

  private constructor(
    private readonly lanes: Lane[],
    /** Pieces the writer may pull ahead of the one it writes (see exportLookahead). */
    readonly lookahead: number,
  ) {
    this.slots = new PieceSlots(lookahead + 2);
  }

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

  /** Encode one piece into `slot`'s output (its raw bytes are in the slot's input, or anywhere on this thread). */
  run(task: PieceTask, slot: PieceSlot, chain?: Chain): Promise<PieceResult> {
    const into = slot.output(pieceOutputBytes(task.to, task.rows, task.cols));
    if (this.lanes.length === 0) return new Promise((resolve) => resolve(this.runner.run(task, chain, into)));
    if (this.broken) return Promise.reject(this.broken);
    const lane = (chain && this.chains.get(chain.id)) ?? this.leastBusy();
    if (chain) {
      if (chain.last) this.chains.delete(chain.id);
      else this.chains.set(chain.id, lane);
    }
    const id = this.nextId++;
    const message: PieceRequest = { id, task: shareable(task), chain, into };
    return new Promise<PieceResult>((resolve, reject) => {
      lane.pending.set(id, { resolve, reject, tensor: task.tensor, into });
      lane.worker.postMessage(message);
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
      if (m.type === 'done') {
        // The worker's views, rebuilt on this thread's object for the same shared memory (whose identity tells the
        // slots which piece was written).
        const memory = p.into.buffer;
        const bytes = new Uint8Array(memory, m.bytes.byteOffset, m.bytes.byteLength);
        const scb = m.scb && new Float32Array(memory, m.scb.byteOffset, m.scb.length);
        p.resolve({ bytes, scb, tally: m.tally });
      } else p.reject(rebuildError(m.error));
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

/**
 * The task as posted: views of shared memory stay shared; other arrays are copied, and only their own bytes (a view's
 * clone would copy its whole buffer: A may be a view of the adapter file).
 */
function shareable(task: PieceTask): PieceTask {
  const raw = task.raw.buffer instanceof SharedArrayBuffer ? task.raw : task.raw.slice();
  return { ...task, raw, delta: task.delta && { ...task.delta, a: task.delta.a.slice(), b: task.delta.b.slice() } };
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
