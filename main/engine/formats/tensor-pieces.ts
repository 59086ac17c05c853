import type { TensorSource } from './tensor-source.ts';

/**
 * Values per piece when an export streams a tensor: 4 Mi values (16 MiB as f32). Small next to the memory bound
 * (the largest tensor + 256 MiB), large enough that the per-piece costs (a read, a write, a few allocations) vanish.
 */
export const PIECE_VALUES = 1 << 22;

/**
 * [start, end) ranges of a tensor's outermost rows, each about `pieceValues` values and a whole number of
 * `groupRows` rows (a RoPE head's rows are permuted among themselves, so a piece must hold whole heads).
 */
export function pieceRows(shape: readonly number[], pieceValues = PIECE_VALUES, groupRows = 1): [number, number][] {
  const rows = shape.length ? shape[0] : 1;
  const cols = shape.slice(1).reduce((a, b) => a * b, 1);
  const step = Math.max(1, Math.floor(pieceValues / Math.max(1, cols) / groupRows)) * groupRows;
  const ranges: [number, number][] = [];
  for (let start = 0; start < rows; start += step) ranges.push([start, Math.min(rows, start + step)]);
  return ranges;
}

/** A tensor's values as f32, in pieces of rows (see pieceRows). */
export async function* f32Pieces(
  source: TensorSource,
  name: string,
  pieceValues = PIECE_VALUES,
  groupRows = 1,
): AsyncGenerator<{ start: number; end: number; values: Float32Array }> {
  for (const [start, end] of pieceRows(source.info(name).shape, pieceValues, groupRows)) {
    yield { start, end, values: await source.readF32Rows(name, start, end) };
  }
}

/** A tensor's stored bytes, in pieces of rows. */
export async function* rawPieces(source: TensorSource, name: string, pieceValues = PIECE_VALUES): AsyncGenerator<Uint8Array> {
  for (const [start, end] of pieceRows(source.info(name).shape, pieceValues)) yield await source.readRawRows(name, start, end);
}
