// WGSL that reads one element, or four consecutive elements, of a frozen matrix held in a StoredMatrix's own byte
// layout (block-quant.ts) and returns f32: the only place that knows how each storage mode decodes on the GPU.
// Both matmul generators (register tiles and subgroup matrices) splice these functions in, so a mode is written once.
//
// Indices are flat, into the row-major [rows, cols] matrix. The data binding is `W` (array<i32> of u32 words, or
// array<f32> for f32 weights); quantized modes also bind `S` (array<f32>, one scale per QUANT_BLOCK values).

import { NF4_LEVELS, QUANT_BLOCK } from '../llama/block-quant.ts';
import { type BaseDtype } from '../llama/base-dtype-names.ts';

/** Whether a mode carries one f32 scale per block (a third binding, `S`). */
export const hasScales = (dtype: BaseDtype) => dtype === 'int8' || dtype === 'nf4';

const wgslFloat = (v: number) => `${v}${Number.isInteger(v) ? '.0' : ''}f`;

/** The code book as a private array (runtime indexing of a `const` array is not portable across WGSL compilers). */
const NF4_TABLE = `var<private> NF4 : array<f32, 16> = array<f32, 16>(${Array.from(NF4_LEVELS, wgslFloat).join(', ')});`;

/**
 * `fn loadW(i : i32) -> f32` (element i) and `fn loadW4(i : i32) -> vec4<f32>` (elements i..i+3, i a multiple of 4:
 * every mode's word holds a whole number of such groups, or two words do, and a group never crosses a scale block
 * because QUANT_BLOCK is a multiple of 4).
 */
export function dequantWgsl(dtype: BaseDtype): string {
  if (QUANT_BLOCK % 4 !== 0) throw new Error(`QUANT_BLOCK (${QUANT_BLOCK}) must be a multiple of 4 for loadW4`);
  const word = (idx: string) => `bitcast<u32>(W[${idx}])`;
  const scale = (idx: string) => `S[(${idx}) / ${QUANT_BLOCK}]`;
  switch (dtype) {
    case 'f32':
      return `
      fn loadW(i : i32) -> f32 { return W[i]; }
      fn loadW4(i : i32) -> vec4<f32> { return vec4<f32>(W[i], W[i + 1], W[i + 2], W[i + 3]); }`;
    case 'f16':
      // IEEE halves, two a word, the even element in the low half: WGSL's core unpack2x16float (no shader-f16 needed).
      return `
      fn loadW(i : i32) -> f32 { return unpack2x16float(${word('i >> 1')})[i & 1]; }
      fn loadW4(i : i32) -> vec4<f32> {
        return vec4<f32>(unpack2x16float(${word('i >> 1')}), unpack2x16float(${word('(i >> 1) + 1')}));
      }`;
    case 'bf16':
      // bfloat16 is the high half of an f32: shift the 16 bits up and reinterpret.
      return `
      fn bf16Pair(w : u32) -> vec2<f32> { return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }
      fn loadW(i : i32) -> f32 { return bf16Pair(${word('i >> 1')})[i & 1]; }
      fn loadW4(i : i32) -> vec4<f32> { return vec4<f32>(bf16Pair(${word('i >> 1')}), bf16Pair(${word('(i >> 1) + 1')})); }`;
    case 'int8':
      // Signed bytes, little-endian: shift byte b to the top, then an arithmetic shift right sign-extends it exactly
      // (unpack4x8snorm would divide by 127 and round).
      return `
      fn loadW(i : i32) -> f32 {
        let b = u32(i & 3);
        return f32(bitcast<i32>(${word('i >> 2')} << (24u - 8u * b)) >> 24u) * ${scale('i')};
      }
      fn loadW4(i : i32) -> vec4<f32> {
        let w = vec4<u32>(${word('i >> 2')});
        let q = bitcast<vec4<i32>>(w << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u);
        return vec4<f32>(q) * ${scale('i')};
      }`;
    case 'nf4':
      // Eight 4-bit code-book indices a word, element i in nibble i & 7 (low nibble first).
      return `
      ${NF4_TABLE}
      fn loadW(i : i32) -> f32 { return NF4[(${word('i >> 3')} >> (4u * u32(i & 7))) & 15u] * ${scale('i')}; }
      fn loadW4(i : i32) -> vec4<f32> {
        let c = (vec4<u32>(${word('i >> 3')}) >> (vec4<u32>(4u * u32(i & 7)) + vec4<u32>(0u, 4u, 8u, 12u))) & vec4<u32>(15u);
        return vec4<f32>(NF4[c.x], NF4[c.y], NF4[c.z], NF4[c.w]) * ${scale('i')};
      }`;
  }
}
