import { DTYPE_BYTES } from '../formats/dtypes.ts';
import type { Chain, PieceResult, PieceTarget } from './piece-encode.ts';
import type { PiecePool } from './piece-pool.ts';
import type { PieceSlot } from './piece-slots.ts';
import { PIECE_VALUES, pieceRows } from './tensor-pieces.ts';
import { readRawRowsInto, type RowsInput, type TensorSource } from '../formats/tensor-source.ts';

interface EncodeSpec {
  to: PieceTarget;
  /** Tally each value's error against its f32 value (F16, Q8_0, I8); the tally comes with the last piece. */
  tally?: boolean;
  /** q/k rows to interleaved RoPE: the tensor's heads (each piece then holds whole heads). */
  ropeHeads?: number;
  /** Values per piece (tests lower it to cut small tensors into many pieces). */
  pieceValues?: number;
}

// Chain ids are unique in the process, so pools never mix two tensors' tallies.
let nextChain = 0;

/** Bytes of rows [start, end) of a tensor as stored. */
function storedBytes(source: TensorSource, name: string, start: number, end: number): number {
  const { shape, dtype } = source.info(name);
  return (end - start) * shape.slice(1).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
}

/** Rows [start, end) as an encoder takes them, read into the slot: the source's own input (a merge), else its rows. */
async function readRowsInput(source: TensorSource, name: string, start: number, end: number, slot: PieceSlot): Promise<RowsInput> {
  const into = slot.input(storedBytes(source, name, start, end));
  if (source.readRowsInput) return source.readRowsInput(name, start, end, into);
  return { raw: await readRawRowsInto(source, name, start, end, into), dtype: source.info(name).dtype };
}

/**
 * A tensor's pieces encoded by `pool`, as promises in row order. Each piece starts when the writer pulls it: it takes
 * one of the pool's slots (waiting for one if all are in use), its rows are read into it and sent to a worker. The
 * bytes are a view of the slot: the writer gives the slot back once they are written (PieceSlots.releaseBytes).
 * Pieces are handed to the pool in row order whatever order their reads finish in: a tensor's tally is summed in order.
 */
export function* encodePieces(source: TensorSource, name: string, pool: PiecePool, spec: EncodeSpec): Generator<Promise<PieceResult>> {
  const shape = source.info(name).shape;
  const rows = shape.length ? shape[0] : 1;
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  const headRows = spec.ropeHeads ? rows / spec.ropeHeads : 1;
  const ranges = pieceRows(shape, spec.pieceValues ?? PIECE_VALUES, headRows);
  const chainId = spec.tally ? nextChain++ : undefined;
  let handedOver: Promise<unknown> = Promise.resolve();
  for (let p = 0; p < ranges.length; p++) {
    const [start, end] = ranges[p];
    const chain: Chain | undefined = chainId === undefined ? undefined : { id: chainId, last: p === ranges.length - 1 };
    const slot = pool.slots.acquire();
    // Wrapped in an object so that "handed to the pool" and "encoded" stay two steps.
    const sent = Promise.all([slot.then((s) => readRowsInput(source, name, start, end, s)), slot, handedOver]).then(([input, s]) => ({
      result: pool.run(
        {
          tensor: name,
          start,
          rows: end - start,
          cols,
          ...input,
          ropeHeads: spec.ropeHeads ? (end - start) / headRows : undefined,
          to: spec.to,
          tally: spec.tally,
        },
        s,
        chain,
      ),
    }));
    handedOver = sent;
    const result = sent.then((s) => s.result);
    // A piece that fails gives its slot back (the export stops; pieces after it may still be waiting for one).
    result.catch(() => slot.then((s) => pool.slots.release(s)));
    yield result;
  }
}

/** encodePieces' bytes; `onTally` gets the tensor's error figures when its last piece is encoded. */
export function* encodedBytes(
  source: TensorSource,
  name: string,
  pool: PiecePool,
  spec: EncodeSpec,
  onTally?: (t: NonNullable<PieceResult['tally']>) => void,
): Generator<Promise<Uint8Array>> {
  for (const piece of encodePieces(source, name, pool, spec)) {
    yield piece.then((r) => {
      if (r.tally) onTally?.(r.tally);
      return r.bytes;
    });
  }
}

/** A tensor's stored bytes in pieces of rows, each read into a slot when pulled (a copy with nothing to encode). */
export function* rawPieces(
  source: TensorSource,
  name: string,
  pool: PiecePool,
  pieceValues = PIECE_VALUES,
): Generator<Promise<Uint8Array>> {
  for (const [start, end] of pieceRows(source.info(name).shape, pieceValues)) {
    yield pool.slots.acquire().then(async (slot) => {
      let bytes: Uint8Array | undefined;
      try {
        bytes = await readRawRowsInto(source, name, start, end, slot.input(storedBytes(source, name, start, end)));
        return bytes;
      } finally {
        if (!bytes || !slot.holds(bytes)) pool.slots.release(slot); // a failed read, or a source that read elsewhere
      }
    });
  }
}
