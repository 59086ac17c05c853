import { availableParallelism } from 'node:os';
import { DTYPE_BYTES } from '../formats/dtypes.ts';
import { PiecePool } from './piece-pool.ts';
import { PIECE_VALUES } from './tensor-pieces.ts';
import type { TensorInfo } from '../formats/tensor-source.ts';

/**
 * Workers by default only when the largest tensor holds this many values (128 MiB as f32). The export is held to that
 * tensor in f32 + 256 MiB, and the 256 MiB is mostly the process itself (~200 MiB for the CLI): each worker (~10 MiB
 * bundled, ~30 MiB from source through tsx) and its slots must come out of the largest tensor's share. Every LLaMA-family
 * model from 0.5B up has an embedding that large; smaller ones export in seconds on one thread anyway.
 */
const WORKERS_FROM_LARGEST_VALUES = 1 << 25;
/** More workers than this buy nothing: the disk is the bound long before. */
const MAX_THREADS = 8;
/** At most this many bytes of pieces in flight (read, being encoded, or waiting to be written). */
const MAX_IN_FLIGHT_BYTES = 128 * 2 ** 20;

/** How an export encodes its pieces: the options every exporter takes. */
export interface ExportPoolOptions {
  /** Worker threads (0: the export's own thread); by default one per core for a model-sized export, none for a small one. */
  threads?: number;
  /** Values per streamed piece (tests lower it to cut small tensors into many pieces). */
  pieceValues?: number;
  /** A pool to use instead of opening one (several exports in a row start their workers once); left open. */
  pool?: PiecePool;
}

/** What an export's pool is sized from: the tensors it reads, and the most bytes a value takes once encoded. */
interface ExportWork {
  tensors: TensorInfo[];
  encodedBytesPerValue: number;
}

/**
 * The pool an export uses, and how to let go of it: the caller's `pool` (left open), or one opened for this export:
 * `threads` workers when given (0 = encode on this thread; workers that cannot start are then an error), else one per
 * core when the largest tensor is model-sized (WORKERS_FROM_LARGEST_VALUES) and none otherwise; with the look-ahead
 * exportLookahead allows.
 */
export async function exportPool(work: ExportWork, opts: ExportPoolOptions): Promise<{ pool: PiecePool; release(): Promise<void> }> {
  if (opts.pool) return { pool: opts.pool, release: async () => {} };
  const sizes = work.tensors.map((t) => t.shape.reduce((a, b) => a * b, 1));
  const largest = Math.max(0, ...sizes);
  const threads =
    opts.threads !== undefined
      ? Math.max(0, Math.floor(opts.threads))
      : largest < WORKERS_FROM_LARGEST_VALUES
        ? 0
        : Math.min(MAX_THREADS, availableParallelism());
  const pieceBytes =
    (opts.pieceValues ?? PIECE_VALUES) * (Math.max(0, ...work.tensors.map((t) => DTYPE_BYTES[t.dtype])) + work.encodedBytesPerValue);
  const lookahead = (workers: number) => exportLookahead(workers, pieceBytes, largest);
  const pool = await PiecePool.open(threads, { required: opts.threads !== undefined, lookahead });
  return { pool, release: () => pool.close() };
}

/**
 * How many pieces (of `pieceBytes`, stored and encoded) the writer may pull ahead with `threads` workers, when the
 * export is held to its largest tensor in f32 + 256 MiB: the pieces' slots take at most half the largest tensor's f32
 * size and 128 MiB. A tensor's pieces go to one worker (its error tally), so the others only get work from the next
 * tensors: the look-ahead has to reach past the current tensor for them to be busy.
 */
function exportLookahead(threads: number, pieceBytes: number, largestTensorValues: number): number {
  if (threads === 0) return 1; // encoding on this thread: one piece is made while the last one is written
  const budget = Math.min(MAX_IN_FLIGHT_BYTES, (largestTensorValues * 4) / 2);
  return Math.max(threads + 1, Math.floor(budget / pieceBytes));
}
