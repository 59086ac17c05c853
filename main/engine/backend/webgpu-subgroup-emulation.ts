// A software stand-in for Dawn's subgroup-matrix builtins, with their semantics (webgpu-subgroup-matmul.ts's header):
// every invocation holds a whole matrix in private memory and computes all of it, so the result is what the subgroup
// would compute together, and any adapter runs it. Staged values are rounded to f16 (through pack2x16float) as the
// real kernel's f16 tiles are. Far too slow for training: it exists so the subgroup-matrix kernel's tiling, offsets,
// staging, edge handling and row scaling are tested on SwiftShader, which has no subgroup matrices.
import type { MatrixOps, SubgroupSetup } from './webgpu-subgroup-matmul.ts';

export function emulatedOps(s: SubgroupSetup): MatrixOps {
  const { M, N, K } = s;
  const [left, right, result] = [`array<f32, ${M * K}>`, `array<f32, ${K * N}>`, `array<f32, ${M * N}>`];
  // Left [M][K] and right [K][N] as row-major arrays; loads read element (r, c) at offset + r·stride + c (row-major)
  // or offset + c·stride + r (column-major), as subgroupMatrixLoad does.
  const prelude = `
      fn toHalf(x : f32) -> f32 { return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x; }
      fn emuLoadLeft(offset : u32, stride : u32) -> ${left} {
        var r : ${left};
        for (var i = 0u; i < ${M}u; i = i + 1u) { for (var k = 0u; k < ${K}u; k = k + 1u) { r[i * ${K}u + k] = As[offset + i * stride + k]; } }
        return r;
      }
      fn emuLoadRight(offset : u32, stride : u32, colMajor : bool) -> ${right} {
        var r : ${right};
        for (var k = 0u; k < ${K}u; k = k + 1u) {
          for (var n = 0u; n < ${N}u; n = n + 1u) { r[k * ${N}u + n] = Bs[offset + select(k * stride + n, n * stride + k, colMajor)]; }
        }
        return r;
      }
      fn emuMma(l : ${left}, r : ${right}, acc : ${result}) -> ${result} {
        var lv = l;
        var rv = r;
        var c = acc;
        for (var i = 0u; i < ${M}u; i = i + 1u) {
          for (var n = 0u; n < ${N}u; n = n + 1u) {
            var sum = c[i * ${N}u + n];
            for (var k = 0u; k < ${K}u; k = k + 1u) { sum = sum + lv[i * ${K}u + k] * rv[k * ${N}u + n]; }
            c[i * ${N}u + n] = sum;
          }
        }
        return c;
      }
      fn emuStore(offset : u32, acc : ${result}, stride : u32) {
        var c = acc;
        for (var i = 0u; i < ${M}u; i = i + 1u) { for (var n = 0u; n < ${N}u; n = n + 1u) { Cs[offset + i * stride + n] = c[i * ${N}u + n]; } }
      }`;
  return {
    enables: '',
    prelude,
    staged: 'f32',
    toStaged: (x) => `toHalf(${x})`,
    result,
    loadLeft: (offset, stride) => `emuLoadLeft(${offset}, ${stride}u)`,
    loadRight: (offset, stride, colMajor) => `emuLoadRight(${offset}, ${stride}u, ${colMajor})`,
    mma: (l, r, acc) => `emuMma(${l}, ${r}, ${acc})`,
    store: (offset, acc, stride) => `emuStore(${offset}, ${acc}, ${stride}u)`,
  };
}
