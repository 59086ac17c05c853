/**
 * Values per piece when an export streams a tensor: 1 Mi values (4 MiB as f32). Small next to the memory bound (the
 * largest tensor + 256 MiB) even with a few pieces in flight per worker thread, large enough that the per-piece costs
 * (a read, a write, a message to a worker) vanish next to encoding it (milliseconds).
 */
export const PIECE_VALUES = 1 << 20;

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
