/**
 * HF's rotate-half q/k rows ↔ the interleaved RoPE layout of Meta's checkpoints and llama.cpp:
 * row h·D + j·D/2 + i (rotate-half) ↔ row h·D + 2i + j (interleaved), for each head h, i < D/2, j ∈ {0, 1}; that is
 * w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols) and back. Into `out` when given.
 */
export function moveRopeRows(
  w: Float32Array,
  rows: number,
  cols: number,
  heads: number,
  direction: 'to-interleaved' | 'to-rotate-half',
  out: Float32Array = new Float32Array(w.length),
): Float32Array {
  const headDim = rows / heads;
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const interleaved = h * headDim + 2 * i + j;
        const rotateHalf = h * headDim + j * half + i;
        const [dst, src] = direction === 'to-interleaved' ? [interleaved, rotateHalf] : [rotateHalf, interleaved];
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}
