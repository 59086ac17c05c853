import type { Chain, PieceResult, PieceTarget } from './piece-encode.ts';
import type { PiecePool } from './piece-pool.ts';
import { PIECE_VALUES, pieceRows } from './tensor-pieces.ts';
import type { RowsInput, TensorSource } from './tensor-source.ts';

export interface EncodeSpec {
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

/** Rows [start, end) as an encoder takes them: the source's own input when it has one (a merge), else its raw rows. */
export async function readRowsInput(source: TensorSource, name: string, start: number, end: number): Promise<RowsInput> {
  if (source.readRowsInput) return source.readRowsInput(name, start, end);
  return { raw: await source.readRawRows(name, start, end), dtype: source.info(name).dtype };
}

/**
 * A tensor's pieces encoded by `pool`, as promises in row order. Each piece starts (its rows are read, then sent to a
 * worker) when the writer pulls it, so reading and encoding run ahead of the write by the writer's look-ahead. Pieces
 * are handed to the pool in row order whatever order their reads finish in: a tensor's tally is summed in order.
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
    // Wrapped in an object so that "handed to the pool" and "encoded" stay two steps.
    const sent = Promise.all([readRowsInput(source, name, start, end), handedOver]).then(([input]) => ({
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
        chain,
      ),
    }));
    handedOver = sent;
    yield sent.then((s) => s.result);
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

/** A tensor's stored bytes in pieces of rows, each read when pulled (a copy with nothing to encode). */
export function* rawPiecePromises(source: TensorSource, name: string, pieceValues = PIECE_VALUES): Generator<Promise<Uint8Array>> {
  for (const [start, end] of pieceRows(source.info(name).shape, pieceValues)) yield source.readRawRows(name, start, end);
}
