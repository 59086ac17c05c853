import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeToF32, DTYPE_BYTES, encodeFromF32 } from '../../main/engine/formats/dtypes.ts';
import {
  bf16ArrayToF32,
  bf16ToF32,
  f16ArrayToF32,
  f16ToF32,
  f32ArrayToBf16,
  f32ArrayToF16,
  f32BitsToF16Bits,
  f32ToBf16,
  f32ToF16,
} from '../../main/engine/cpu-kernels/half-float.ts';
import { missingTorch, PYTHON } from '../helpers/torch.ts';
import { workFolder } from '../helpers/work-folder.ts';

const bitsOf = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];
const fromBits = (b: number) => new Float32Array(Uint32Array.of(b).buffer)[0];

/**
 * Reference f32 → f16 written from the IEEE definition, sharing no code with dtypes.ts: list every finite
 * non-negative half in bit order (value m·2^-24 when the exponent is 0, (1024 + m)·2^(e-25) otherwise),
 * find the two neighbours of |v| by binary search, take the nearer, and on a tie the one with an even
 * bit pattern. |v| ≥ 65520 (65504 plus half its ulp, a tie that goes to the even "infinity") overflows.
 */
const HALF_GRID = Array.from({ length: 0x7c00 }, (_, h) => {
  const e = h >> 10;
  const m = h & 0x3ff;
  return e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25);
});
function referenceF16(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7e00;
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0;
  let hi = HALF_GRID.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (HALF_GRID[mid] <= a) lo = mid;
    else hi = mid;
  }
  if (HALF_GRID[hi] <= a) lo = hi; // a is the largest half exactly
  if (HALF_GRID[lo] === a) return sign | lo;
  const up = lo + 1;
  const dLo = a - HALF_GRID[lo];
  // Above the largest half (65504) the next step up is 65536, which rounds to inf: (65504, 65520) rounds down.
  const dUp = (up < HALF_GRID.length ? HALF_GRID[up] : 65536) - a;
  return sign | (dLo < dUp ? lo : dUp < dLo ? up : lo % 2 === 0 ? lo : up);
}

/** Reference f32 → bf16: the two candidates are the truncation and the next bf16 up; nearer wins, ties to even. */
function referenceBf16(v: number): number {
  const x = bitsOf(v);
  if (Number.isNaN(v)) return 0x7fc0;
  const lo = x >>> 16;
  const a = Math.abs(v);
  const aLo = Math.abs(fromBits((lo << 16) >>> 0));
  const aUp = (lo & 0x7fff) === 0x7f7f ? 2 ** 128 : Math.abs(fromBits(((lo + 1) << 16) >>> 0)); // past the largest: "inf"
  const dLo = a - aLo;
  const dUp = aUp - a;
  return dLo < dUp ? lo : dUp < dLo ? lo + 1 : lo % 2 === 0 ? lo : lo + 1;
}

describe('f16', () => {
  it('decodes hand-computed halves exactly', () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x3555, 0.333251953125],
      [0x3bff, 0.99951171875],
      [0x3c00, 1],
      [0x3c01, 1 + 2 ** -10],
      [0xc000, -2],
      [0x7bff, 65504], // largest finite
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [h, v] of cases) expect(f16ToF32(h)).toBe(v);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0xfc01)).toBeNaN();
  });

  it('encodes hand-computed values with round-to-nearest-even, subnormals, overflow, inf and NaN', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff],
      [65519, 0x7bff], // below the midpoint to "65536": stays finite
      [65520, 0x7c00], // the midpoint: ties to even, which is infinity
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01 → even
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 → even
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], // half the smallest subnormal: tie → even (zero)
      [2 ** -25 + 2 ** -40, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between subnormals 1 and 2 → even
      [1023.5 * 2 ** -24, 0x0400], // tie between the largest subnormal and the smallest normal → even
      [1e-8, 0x0000],
      [-1e-8, 0x8000],
      [0.1, 0x2e66],
    ];
    for (const [v, h] of cases) expect(f32ToF16(v), `f32ToF16(${v})`).toBe(h);
    expect(f32ToF16(-0)).toBe(0x8000);
    const nan = f32ToF16(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('round-trips all 65536 half bit patterns exactly (NaN payloads included)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ArrayToF16(f16ArrayToF32(all));
    expect(back).toEqual(all);
    // The scalar path agrees with the array path on every pattern.
    const f32 = f16ArrayToF32(all);
    for (let h = 0; h < 65536; h += 1) {
      const v = f16ToF32(h);
      if (Number.isNaN(v)) expect(f32[h]).toBeNaN();
      else if (v !== f32[h]) throw new Error(`half ${h.toString(16)}: scalar ${v} vs array ${f32[h]}`);
    }
  });

  it('matches the reference rounding on random floats and on every midpoint between halves', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: Math.fround(-70000), max: Math.fround(70000) }), (v) => {
        expect(f32ToF16(v)).toBe(referenceF16(v));
      }),
      { numRuns: 20000 },
    );
    // Just past the largest half, where the reference once called every value a tie (fast-check found -65504.0039).
    for (const v of [65504.00390625, -65504.00390625, 65519.99609375, 65520, -65520, 65535.99609375]) {
      expect(f32ToF16(v), String(v)).toBe(referenceF16(v));
    }
    expect(f32ToF16(-65504.00390625)).toBe(0xfbff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    // Every midpoint between neighbouring halves (exact in f32) and one f32 ulp either side.
    const mids: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const mid = Math.fround((HALF_GRID[h] + HALF_GRID[h + 1]) / 2);
      mids.push(mid, fromBits(bitsOf(mid) - 1), fromBits(bitsOf(mid) + 1));
    }
    const values = Float32Array.from(mids.flatMap((m) => [m, -m]));
    const got = f32ArrayToF16(values);
    values.forEach((v, i) => {
      if (got[i] !== referenceF16(v)) throw new Error(`f32ToF16(${v}) = ${got[i].toString(16)}, reference ${referenceF16(v).toString(16)}`);
    });
  });

  it("the array encoder's fast path equals the scalar encoder on 16M bit patterns spread over every exponent and sign", () => {
    // Stride 256 with the low 8 bits varied too, so every exponent, both signs, ties, carries and the edges of the
    // fast path (2^-14, 65520) are hit along with inf and NaN.
    const words = new Uint32Array(1 << 24);
    for (let i = 0; i < words.length; i++) words[i] = (i * 256 + ((i * 37) & 0xff)) >>> 0;
    const got = f32ArrayToF16(new Float32Array(words.buffer));
    for (let i = 0; i < words.length; i++) {
      if (got[i] !== f32BitsToF16Bits(words[i]))
        throw new Error(`bits ${words[i].toString(16)}: array ${got[i].toString(16)}, scalar ${f32BitsToF16Bits(words[i]).toString(16)}`);
    }
    for (const bits of [0x38800000, 0x387fffff, 0x477fefff, 0x477ff000, 0xb8800000, 0xc77ff000]) {
      expect(f32ArrayToF16(new Float32Array(Uint32Array.of(bits).buffer))[0]).toBe(f32BitsToF16Bits(bits));
    }
  });
});

describe('bf16', () => {
  it('decodes by shifting into the high half', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc000)).toBe(-2);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(bf16ToF32(0xff80)).toBe(-Infinity);
    expect(bf16ToF32(0x0001)).toBe(2 ** -133); // smallest subnormal
    expect(bf16ToF32(0x7fc0)).toBeNaN();
    expect(bf16ArrayToF32(Uint16Array.of(0x4049))).toEqual(Float32Array.of(3.140625));
  });

  it('encodes with round-to-nearest-even and keeps NaN a NaN', () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie → even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16(3.4028234663852886e38)).toBe(0x7f80); // the largest f32 rounds up to inf
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    // A NaN whose payload lies only in the low 16 bits must not truncate to inf.
    expect(bf16ToF32(f32ToBf16(fromBits(0x7f800001)))).toBeNaN();
  });

  it('round-trips every non-NaN bf16 pattern and matches the reference on random floats', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = f32ArrayToBf16(bf16ArrayToF32(all));
    for (let b = 0; b < 65536; b++) {
      const isNaN = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      if (isNaN ? (back[b] & 0x7f80) !== 0x7f80 || (back[b] & 0x7f) === 0 : back[b] !== b)
        throw new Error(`bf16 ${b.toString(16)} → ${back[b].toString(16)}`);
    }
    fc.assert(
      fc.property(fc.float({ noNaN: true }), (v) => {
        expect(f32ToBf16(v)).toBe(referenceBf16(v));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('typed-array helpers', () => {
  it('knows each dtype size', () => {
    expect(DTYPE_BYTES).toEqual({ F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 });
  });

  it('decodes little-endian bytes, also from an unaligned view, and copies F32', () => {
    const raw = new Uint8Array(1 + 8);
    const view = raw.subarray(1); // byteOffset 1: not aligned for f32
    new DataView(raw.buffer).setFloat32(1, 1.5, true);
    new DataView(raw.buffer).setFloat32(5, -3, true);
    expect(decodeToF32(view, 'F32')).toEqual(Float32Array.of(1.5, -3));
    new DataView(raw.buffer).setUint16(1, 0x3c00, true);
    new DataView(raw.buffer).setUint16(3, 0xc000, true);
    expect(decodeToF32(raw.subarray(1, 5), 'F16')).toEqual(Float32Array.of(1, -2));
    expect(decodeToF32(raw.subarray(1, 5), 'BF16')).toEqual(Float32Array.of(bf16ToF32(0x3c00), bf16ToF32(0xc000)));
    const f64 = new Uint8Array(Float64Array.of(0.5, 2 ** 200).buffer);
    expect(decodeToF32(f64, 'F64')).toEqual(Float32Array.of(0.5, Infinity));
    const aligned = new Uint8Array(Float32Array.of(7).buffer);
    const decoded = decodeToF32(aligned, 'F32');
    decoded[0] = 8;
    expect(new Float32Array(aligned.buffer)[0]).toBe(7);
    expect(() => decodeToF32(new Uint8Array(3), 'F16')).toThrow(/not a whole number/);
  });

  it('encodes F32, F16 and BF16 as little-endian bytes', () => {
    const v = Float32Array.of(1, -2, 0.5);
    expect([...encodeFromF32(v, 'F16')]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]);
    expect([...encodeFromF32(v, 'BF16')]).toEqual([0x80, 0x3f, 0x00, 0xc0, 0x00, 0x3f]);
    expect([...encodeFromF32(Float32Array.of(1), 'F32')]).toEqual([0x00, 0x00, 0x80, 0x3f]);
    // A view into a larger buffer encodes only its own values.
    const big = Float32Array.of(9, 1, 9);
    expect([...encodeFromF32(big.subarray(1, 2), 'F16')]).toEqual([0x00, 0x3c]);
  });
});

/** numpy (float16) and PyTorch (bfloat16) convert the same floats: the conversions in use everywhere else. */
describe.skipIf(missingTorch())('agrees with numpy and PyTorch', () => {
  it('on 60000 f32 bit patterns', () => {
    const dir = workFolder('dtypes');
    const n = 60000;
    const words = new Uint32Array(n);
    let s = 12345;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0; // an LCG: reproducible, spread over all exponents
      words[i] = (s ^ (s << 13)) >>> 0;
    }
    words.set([0, 0x80000000, 0x7f800000, 0xff800000, 0x477fefff, 0x477ff000, 0x33000000, 0x33000001, 0x38800000, 0x387fc000], 0);
    const input = path.join(dir, 'in.f32');
    writeFileSync(input, new Uint8Array(words.buffer));
    const script = [
      'import sys, warnings, numpy as np, torch',
      "warnings.simplefilter('ignore')",
      'x = np.fromfile(sys.argv[1], dtype=np.float32)',
      "x.astype(np.float16).view(np.uint16).tofile(sys.argv[1] + '.f16')",
      "torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16).tofile(sys.argv[1] + '.bf16')",
    ].join('\n');
    const py = path.join(dir, 'convert.py');
    writeFileSync(py, script);
    execPython(py, input);
    const npF16 = new Uint16Array(readFileSync(`${input}.f16`).buffer.slice(0));
    const ptBf16 = new Uint16Array(readFileSync(`${input}.bf16`).buffer.slice(0));
    const values = new Float32Array(words.buffer);
    const ours16 = f32ArrayToF16(values);
    const oursBf = f32ArrayToBf16(values);
    let mismatches = 0;
    for (let i = 0; i < n; i++) {
      const nan = Number.isNaN(values[i]);
      if (nan ? !Number.isNaN(f16ToF32(npF16[i])) || !Number.isNaN(f16ToF32(ours16[i])) : ours16[i] !== npF16[i]) mismatches++;
      if (nan ? !Number.isNaN(bf16ToF32(oursBf[i])) : oursBf[i] !== ptBf16[i]) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});

function execPython(script: string, arg: string): void {
  execFileSync(PYTHON, [script, arg], { env: { ...process.env, OMP_NUM_THREADS: '1' } });
}
