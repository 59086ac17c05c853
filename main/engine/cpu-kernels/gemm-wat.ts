// The frozen-base GEMM kernels as WebAssembly text, generated (the register tile is unrolled by hand, so a generator
// keeps it one template). `npm run build:wasm` assembles two binaries from it: one with relaxed-SIMD FMA
// (f32x4.relaxed_madd) and one with SIMD128 only (f32x4.mul then f32x4.add). gemm-kernels.ts drives them.
//
// The products: C [N, P] = A [N, R] · B, with B read from a stored matrix W [rows, cols] in its own mode (f32, bf16,
// f16, blockwise int8, NF4, block-quant.ts's layouts) and decoded while it is packed into a cache-sized panel:
//   forward  x·Wᵀ: R = cols, P = rows, B[k, p] = W[p, k]   (pack_t_*: W rows scattered into the panel's lanes)
//   backward dy·W: R = rows, P = cols, B[k, p] = W[k, p]   (pack_n_*: W row segments copied 8 at a time)
// A is packed once per product into [k-block][row tile][k][MR]; the panel into [strip of 8 columns][k][8]; the
// microkernel keeps an MR × 8 tile of C in registers (2·MR f32x4 accumulators).

/**
 * The stored forms these kernels decode: llama/block-quant.ts's storage modes, by the same names (model/ checks that
 * every mode it stores has a decoder here).
 */
export const GEMM_MODES = ['f32', 'bf16', 'f16', 'int8', 'nf4'] as const;
export type GemmMode = (typeof GEMM_MODES)[number];
/** Values per block scale of int8 and NF4 (block-quant.ts's QUANT_BLOCK; model/ checks they agree). */
export const GEMM_QUANT_BLOCK = 64;
const BLOCK_SHIFT = Math.log2(GEMM_QUANT_BLOCK);

/** Rows of C per register tile (12 accumulators + 2 B vectors + 1 broadcast: what x64's 16 XMM registers hold). */
export const GEMM_MR = 6;
/** The reduction dimension's block: one A block [N, KC] and one panel [KC, NC] stay in L2. */
export const GEMM_KC = 256;
/** Columns of C per task (a panel): 16 strips of 8. */
export const GEMM_NC = 128;
/** Where each kernel instance's memory keeps the NF4 code book (16 f32). Addresses below 256 are reserved. */
export const NF4_TABLE_AT = 64;
export const RESERVED_BYTES = 256;

/** One element of W at flat index $f, as f32 (block-quant.ts's dequantizeRows, bit for bit). */
function elem(mode: GemmMode): string {
  switch (mode) {
    case 'f32':
      return `(f32.load (i32.add (local.get $data) (i32.shl (local.get $f) (i32.const 2))))`;
    case 'bf16':
      return `(f32.reinterpret_i32 (i32.shl (i32.load16_u (i32.add (local.get $data) (i32.shl (local.get $f) (i32.const 1)))) (i32.const 16)))`;
    case 'f16':
      return `(call $half (i32.load16_u (i32.add (local.get $data) (i32.shl (local.get $f) (i32.const 1)))))`;
    case 'int8':
      return `(f32.mul (f32.convert_i32_s (i32.load8_s (i32.add (local.get $data) (local.get $f))))
                (f32.load (i32.add (local.get $scales) (i32.shl (i32.shr_u (local.get $f) (i32.const ${BLOCK_SHIFT})) (i32.const 2)))))`;
    case 'nf4':
      return `(f32.mul
                (f32.load offset=${NF4_TABLE_AT} (i32.shl (i32.and (i32.shr_u (i32.load8_u (i32.add (local.get $data) (i32.shr_u (local.get $f) (i32.const 1))))
                  (i32.shl (i32.and (local.get $f) (i32.const 1)) (i32.const 2))) (i32.const 15)) (i32.const 2)))
                (f32.load (i32.add (local.get $scales) (i32.shl (i32.shr_u (local.get $f) (i32.const ${BLOCK_SHIFT})) (i32.const 2)))))`;
  }
}

/**
 * Four consecutive elements at flat index $f as an f32x4, for the fast path: $f a multiple of 4 (so the four share
 * one block of 64, and NF4's start on a byte).
 */
function vec4(mode: GemmMode, at = '(local.get $f)'): string | undefined {
  switch (mode) {
    case 'f32':
      return `(v128.load (i32.add (local.get $data) (i32.shl ${at} (i32.const 2))))`;
    case 'bf16':
      return `(i32x4.shl (v128.load16x4_u (i32.add (local.get $data) (i32.shl ${at} (i32.const 1)))) (i32.const 16))`;
    case 'f16':
      return `(call $half4 (v128.load16x4_u (i32.add (local.get $data) (i32.shl ${at} (i32.const 1)))))`;
    case 'int8':
      return `(f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (v128.load8x8_s (i32.add (local.get $data) ${at}))))
                (v128.load32_splat (i32.add (local.get $scales) (i32.shl (i32.shr_u ${at} (i32.const ${BLOCK_SHIFT})) (i32.const 2)))))`;
    case 'nf4': {
      // four codes from two bytes (at an even value, so byte-aligned), each looked up in the code book
      const byte = (i: number) => `(i32.load8_u offset=${i} (i32.add (local.get $data) (i32.shr_u ${at} (i32.const 1))))`;
      const level = (code: string) => `(f32.load offset=${NF4_TABLE_AT} (i32.shl ${code} (i32.const 2)))`;
      const lo = (i: number) => level(`(i32.and ${byte(i)} (i32.const 15))`);
      const hi = (i: number) => level(`(i32.shr_u ${byte(i)} (i32.const 4))`);
      return `(f32x4.mul
                (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat ${lo(0)}) ${hi(0)}) ${lo(1)}) ${hi(1)})
                (v128.load32_splat (i32.add (local.get $scales) (i32.shl (i32.shr_u ${at} (i32.const ${BLOCK_SHIFT})) (i32.const 2)))))`;
    }
  }
}

/**
 * pack_t_<mode>(data, scales, cols, p0, valid, strips, k0, kc, out): the forward panel. out[s][k][j] = W[p0 + 8s + j,
 * k0 + k] for 8s + j < valid, else 0; `fast` (1 when cols and k0 are multiples of 4, or always for the unblocked
 * modes) takes 4 values at a time.
 */
function packT(mode: GemmMode): string {
  const v = vec4(mode);
  const fastLoop = v
    ? `(if (local.get $fast) (then
          (block $fdone (loop $floop
            (br_if $fdone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
            (local.set $v ${v.replaceAll('(local.get $f)', '(i32.add (local.get $f0) (local.get $k))')})
            (local.set $o (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 5))))
            (v128.store32_lane offset=0 0 (local.get $o) (local.get $v))
            (v128.store32_lane offset=32 1 (local.get $o) (local.get $v))
            (v128.store32_lane offset=64 2 (local.get $o) (local.get $v))
            (v128.store32_lane offset=96 3 (local.get $o) (local.get $v))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $floop)))))`
    : '';
  return `
  (func (export "pack_t_${mode}") (param $data i32) (param $scales i32) (param $cols i32) (param $p0 i32) (param $valid i32)
      (param $strips i32) (param $k0 i32) (param $kc i32) (param $out i32) (param $fast i32)
    (local $r i32) (local $row i32) (local $k i32) (local $f i32) (local $f0 i32) (local $o i32) (local $v v128)
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (i32.shl (local.get $strips) (i32.const 3))))
      ;; this row's lane in the panel: strip r/8, lane r%8
      (local.set $row (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (i32.shr_u (local.get $r) (i32.const 3))
        (i32.shl (local.get $kc) (i32.const 3))) (i32.and (local.get $r) (i32.const 7))) (i32.const 2))))
      (local.set $k (i32.const 0))
      (if (i32.lt_u (local.get $r) (local.get $valid))
        (then
          (local.set $f0 (i32.add (i32.mul (i32.add (local.get $p0) (local.get $r)) (local.get $cols)) (local.get $k0)))
          ${fastLoop}
          (block $sdone (loop $sloop
            (br_if $sdone (i32.ge_u (local.get $k) (local.get $kc)))
            (local.set $f (i32.add (local.get $f0) (local.get $k)))
            (f32.store (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 5))) ${elem(mode)})
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $sloop))))
        (else
          (block $zdone (loop $zloop
            (br_if $zdone (i32.ge_u (local.get $k) (local.get $kc)))
            (f32.store (i32.add (local.get $row) (i32.shl (local.get $k) (i32.const 5))) (f32.const 0))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $zloop)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop))))`;
}

/**
 * pack_n_<mode>(data, scales, cols, k0, kc, p0, valid, strips, out): the backward panel. out[s][k][j] = W[k0 + k,
 * p0 + 8s + j] for 8s + j < valid, else 0; `fast` (cols and p0 multiples of 8, or always for the unblocked modes)
 * takes whole strips of 8 as two vectors.
 */
function packN(mode: GemmMode): string {
  const lo = vec4(mode);
  const hi = vec4(mode, '(i32.add (local.get $f) (i32.const 4))');
  const fastStrip = lo
    ? `(if (i32.and (local.get $fast) (i32.le_u (i32.add (local.get $c) (i32.const 8)) (local.get $valid)))
          (then
            (v128.store offset=0 (local.get $o) ${lo})
            (v128.store offset=16 (local.get $o) ${hi})
            (br $strip)))`
    : '';
  return `
  (func (export "pack_n_${mode}") (param $data i32) (param $scales i32) (param $cols i32) (param $k0 i32) (param $kc i32)
      (param $p0 i32) (param $valid i32) (param $strips i32) (param $out i32) (param $fast i32)
    (local $k i32) (local $s i32) (local $c i32) (local $j i32) (local $f i32) (local $o i32) (local $base i32) (local $x f32)
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $k) (local.get $kc)))
      (local.set $base (i32.add (i32.mul (i32.add (local.get $k0) (local.get $k)) (local.get $cols)) (local.get $p0)))
      (local.set $s (i32.const 0))
      (block $sdone (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $s) (local.get $strips)))
        (local.set $c (i32.shl (local.get $s) (i32.const 3)))
        (local.set $o (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $s) (local.get $kc)) (local.get $k)) (i32.const 5))))
        (local.set $f (i32.add (local.get $base) (local.get $c)))
        (block $strip
          ${fastStrip}
          (local.set $j (i32.const 0))
          (block $jdone (loop $jloop
            (br_if $jdone (i32.ge_u (local.get $j) (i32.const 8)))
            (local.set $x (f32.const 0))
            (if (i32.lt_u (i32.add (local.get $c) (local.get $j)) (local.get $valid))
              (then
                (local.set $f (i32.add (i32.add (local.get $base) (local.get $c)) (local.get $j)))
                (local.set $x ${elem(mode)})))
            (f32.store (i32.add (local.get $o) (i32.shl (local.get $j) (i32.const 2))) (local.get $x))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jloop))))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $sloop)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $kloop))))`;
}

/** acc + a·b: one fused instruction where relaxed SIMD is, else a multiply and an add. */
function madd(fma: boolean, a: string, b: string, acc: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${acc})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${acc})`;
}

/**
 * kernel(a, b, c, ldc, kc, accumulate): C[MR rows × 8] (+)= Apack[kc][MR] · Bstrip[kc][8]. ldc is in bytes. The k
 * loop is unrolled twice so most loads take immediate offsets.
 */
function microkernel(fma: boolean): string {
  const rows = [...Array(GEMM_MR).keys()];
  const accs = rows.flatMap((i) => [`$c${i}a`, `$c${i}b`]);
  const step = (u: number) =>
    [
      `(local.set $b0 (v128.load offset=${u * 32} (local.get $b)))`,
      `(local.set $b1 (v128.load offset=${u * 32 + 16} (local.get $b)))`,
      ...rows.flatMap((i) => [
        `(local.set $av (v128.load32_splat offset=${(u * GEMM_MR + i) * 4} (local.get $a)))`,
        `(local.set $c${i}a ${madd(fma, '(local.get $av)', '(local.get $b0)', `(local.get $c${i}a)`)})`,
        `(local.set $c${i}b ${madd(fma, '(local.get $av)', '(local.get $b1)', `(local.get $c${i}b)`)})`,
      ]),
    ].join('\n      ');
  const rowPtr = (i: number) => `(i32.add (local.get $c) (i32.mul (local.get $ldc) (i32.const ${i})))`;
  return `
  (func $kernel (param $a i32) (param $b i32) (param $c i32) (param $ldc i32) (param $kc i32) (param $accumulate i32)
    ${accs.map((n) => `(local ${n} v128)`).join(' ')} (local $b0 v128) (local $b1 v128) (local $av v128) (local $k i32)
    (if (local.get $accumulate) (then
      ${rows.map((i) => `(local.set $c${i}a (v128.load offset=0 ${rowPtr(i)})) (local.set $c${i}b (v128.load offset=16 ${rowPtr(i)}))`).join('\n      ')}))
    (block $done2 (loop $loop2
      (br_if $done2 (i32.gt_u (i32.add (local.get $k) (i32.const 2)) (local.get $kc)))
      ${step(0)}
      ${step(1)}
      (local.set $a (i32.add (local.get $a) (i32.const ${2 * GEMM_MR * 4})))
      (local.set $b (i32.add (local.get $b) (i32.const 64)))
      (local.set $k (i32.add (local.get $k) (i32.const 2)))
      (br $loop2)))
    (if (i32.lt_u (local.get $k) (local.get $kc)) (then
      ${step(0)}))
    ${rows.map((i) => `(v128.store offset=0 ${rowPtr(i)} (local.get $c${i}a)) (v128.store offset=16 ${rowPtr(i)} (local.get $c${i}b))`).join('\n    ')})`;
}

/**
 * gemm_panel(apack, npad, kc, b, strips, c, ldc, accumulate): every row tile against every strip of a packed panel.
 * C [npad, ·] with ldc bytes a row; npad is a multiple of MR (A and C are padded with zero rows).
 */
const gemmPanel = `
  (func (export "gemm_panel") (param $apack i32) (param $npad i32) (param $kc i32) (param $b i32) (param $strips i32)
      (param $c i32) (param $ldc i32) (param $accumulate i32)
    (local $s i32) (local $t i32) (local $bs i32) (local $tileA i32) (local $tileC i32)
    (block $sdone (loop $sloop
      (br_if $sdone (i32.ge_u (local.get $s) (local.get $strips)))
      (local.set $bs (i32.add (local.get $b) (i32.shl (i32.mul (local.get $s) (local.get $kc)) (i32.const 5))))
      (local.set $t (i32.const 0))
      (block $tdone (loop $tloop
        (br_if $tdone (i32.ge_u (local.get $t) (local.get $npad)))
        (local.set $tileA (i32.add (local.get $apack) (i32.shl (i32.mul (local.get $t) (local.get $kc)) (i32.const 2))))
        (local.set $tileC (i32.add (i32.add (local.get $c) (i32.mul (local.get $t) (local.get $ldc))) (i32.shl (local.get $s) (i32.const 5))))
        (call $kernel (local.get $tileA) (local.get $bs) (local.get $tileC) (local.get $ldc) (local.get $kc) (local.get $accumulate))
        (local.set $t (i32.add (local.get $t) (i32.const ${GEMM_MR})))
        (br $tloop)))
      (local.set $s (i32.add (local.get $s) (i32.const 1)))
      (br $sloop))))`;

/**
 * pack_a(a, n, r, npad, out): A [n, r] (row-major) → out[k-block][row tile][k][MR], zero rows up to npad. A k-block
 * of KC (the last shorter) starts at kb·KC·npad values.
 */
const packA = `
  (func (export "pack_a") (param $a i32) (param $n i32) (param $r i32) (param $npad i32) (param $out i32)
    (local $k0 i32) (local $kc i32) (local $i i32) (local $k i32) (local $blk i32) (local $src i32) (local $dst i32)
    (block $bdone (loop $bloop
      (br_if $bdone (i32.ge_u (local.get $k0) (local.get $r)))
      (local.set $kc (select (i32.sub (local.get $r) (local.get $k0)) (i32.const ${GEMM_KC})
        (i32.lt_u (i32.sub (local.get $r) (local.get $k0)) (i32.const ${GEMM_KC}))))
      (local.set $blk (i32.add (local.get $out) (i32.shl (i32.mul (local.get $k0) (local.get $npad)) (i32.const 2))))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_u (local.get $i) (local.get $npad)))
        ;; row i goes to tile i/MR, lane i%MR: dst = blk + ((i/MR)·MR·kc + i%MR)·4, then MR·4 a step of k
        (local.set $dst (i32.add (local.get $blk) (i32.shl (i32.add
          (i32.mul (i32.mul (i32.div_u (local.get $i) (i32.const ${GEMM_MR})) (i32.const ${GEMM_MR})) (local.get $kc))
          (i32.rem_u (local.get $i) (i32.const ${GEMM_MR}))) (i32.const 2))))
        (local.set $k (i32.const 0))
        (if (i32.lt_u (local.get $i) (local.get $n))
          (then
            (local.set $src (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $r)) (local.get $k0)) (i32.const 2))))
            (block $kdone (loop $kloop
              (br_if $kdone (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $dst) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $dst (i32.add (local.get $dst) (i32.const ${GEMM_MR * 4})))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $kloop))))
          (else
            (block $zdone (loop $zloop
              (br_if $zdone (i32.ge_u (local.get $k) (local.get $kc)))
              (f32.store (local.get $dst) (f32.const 0))
              (local.set $dst (i32.add (local.get $dst) (i32.const ${GEMM_MR * 4})))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $zloop)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const ${GEMM_KC})))
      (br $bloop))))`;

/**
 * IEEE half bits → f32, exact (dtypes.ts's table): the magnitude's bits moved into f32's exponent and mantissa and
 * scaled by 2^112, which also makes subnormal halves normal; inf and NaN keep an all-ones exponent.
 */
const halfConversions = `
  (func $half (param $h i32) (result f32)
    (local $em i32)
    (local.set $em (i32.and (local.get $h) (i32.const 0x7fff)))
    (f32.reinterpret_i32 (i32.or (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16))
      (select
        (i32.or (i32.const 0x7f800000) (i32.shl (i32.and (local.get $em) (i32.const 0x3ff)) (i32.const 13)))
        (i32.reinterpret_f32 (f32.mul (f32.reinterpret_i32 (i32.shl (local.get $em) (i32.const 13))) (f32.const 0x1p112)))
        (i32.ge_u (local.get $em) (i32.const 0x7c00))))))
  (func $half4 (param $h v128) (result v128)
    (local $em v128)
    (local.set $em (v128.and (local.get $h) (i32x4.splat (i32.const 0x7fff))))
    (v128.or (i32x4.shl (v128.and (local.get $h) (i32x4.splat (i32.const 0x8000))) (i32.const 16))
      (v128.bitselect
        (v128.or (i32x4.splat (i32.const 0x7f800000)) (i32x4.shl (v128.and (local.get $em) (i32x4.splat (i32.const 0x3ff))) (i32.const 13)))
        (f32x4.mul (i32x4.shl (local.get $em) (i32.const 13)) (f32x4.splat (f32.const 0x1p112)))
        (i32x4.ge_u (local.get $em) (i32x4.splat (i32.const 0x7c00))))))`;

/**
 * Cross-entropy over rows of logits, the two passes that touch every value (the rest is per row, in JS):
 * row_max_sumexp(x, n, v4, out): for each of n rows of v values (a row starts every v4 values; only its first v4, a
 * multiple of 4, are read here), out[2i] = max, out[2i+1] = Σ exp(x − max).
 * softmax_grad(x, n, v, v4, lse, coef, out): out = exp(x − lse[i]) · coef[i] over the first v4 values of each row.
 * exp is Cephes' expf in f32x4 (range reduction by ln 2 in two parts, a degree-6 polynomial): within 2 ulp.
 */
const crossEntropy = `
  (func $exp4 (param $x v128) (result v128)
    (local $k v128) (local $f v128) (local $p v128)
    (local.set $x (f32x4.max (local.get $x) (f32x4.splat (f32.const -87.0))))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (f32x4.splat (f32.const 1.44269504088896341)))))
    (local.set $f (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (f32x4.splat (f32.const 0.693359375)))))
    (local.set $f (f32x4.sub (local.get $f) (f32x4.mul (local.get $k) (f32x4.splat (f32.const -2.12194440e-4)))))
    (local.set $p (f32x4.splat (f32.const 1.9875691500e-4)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 1.3981999507e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 8.3334519073e-3))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 4.1665795894e-2))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 1.6666665459e-1))))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $f)) (f32x4.splat (f32.const 5.0000001201e-1))))
    (local.set $p (f32x4.add (f32x4.add (f32x4.mul (f32x4.mul (local.get $p) (local.get $f)) (local.get $f)) (local.get $f))
      (f32x4.splat (f32.const 1))))
    ;; × 2^k, k ≥ -126 after the clamp
    (f32x4.mul (local.get $p) (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (i32x4.splat (i32.const 127))) (i32.const 23))))
  (func (export "row_max_sumexp") (param $x i32) (param $n i32) (param $v i32) (param $v4 i32) (param $out i32)
    (local $i i32) (local $row i32) (local $j i32) (local $m v128) (local $s v128) (local $mx f32)
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $i) (local.get $v)) (i32.const 2))))
      (local.set $m (f32x4.splat (f32.const -inf)))
      (local.set $j (i32.const 0))
      (block $mdone (loop $mloop
        (br_if $mdone (i32.ge_u (local.get $j) (local.get $v4)))
        (local.set $m (f32x4.max (local.get $m) (v128.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $mloop)))
      (local.set $mx (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
        (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
      (local.set $m (f32x4.splat (local.get $mx)))
      (local.set $s (f32x4.splat (f32.const 0)))
      (local.set $j (i32.const 0))
      (block $sdone (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $j) (local.get $v4)))
        (local.set $s (f32x4.add (local.get $s) (call $exp4 (f32x4.sub
          (v128.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))) (local.get $m)))))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $sloop)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3))) (local.get $mx))
      (f32.store offset=4 (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3)))
        (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s)) (f32x4.extract_lane 1 (local.get $s)))
          (f32.add (f32x4.extract_lane 2 (local.get $s)) (f32x4.extract_lane 3 (local.get $s)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop))))
  (func (export "softmax_grad") (param $x i32) (param $n i32) (param $v i32) (param $v4 i32) (param $lse i32) (param $coef i32)
      (param $out i32)
    (local $i i32) (local $j i32) (local $off i32) (local $l v128) (local $c v128)
    (block $idone (loop $iloop
      (br_if $idone (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $l (v128.load32_splat (i32.add (local.get $lse) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $c (v128.load32_splat (i32.add (local.get $coef) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $j (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $v4)))
        (local.set $off (i32.shl (i32.add (i32.mul (local.get $i) (local.get $v)) (local.get $j)) (i32.const 2)))
        (v128.store (i32.add (local.get $out) (local.get $off))
          (f32x4.mul (call $exp4 (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $off))) (local.get $l))) (local.get $c)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $jloop)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iloop))))`;

/**
 * gemv_<mode>(data, scales, cols, x, m0, rows, y, fast): y[m] = Σ_k x[k] · W[m, k] for m in [m0, m0 + rows), W decoded
 * in registers straight from its stored form (decode's matrix-vector products: no panel, no padding rows).
 */
function gemv(mode: GemmMode, fma: boolean): string {
  const v = vec4(mode, '(i32.add (local.get $f0) (local.get $k))')!;
  return `
  (func (export "gemv_${mode}") (param $data i32) (param $scales i32) (param $cols i32) (param $x i32) (param $m0 i32)
      (param $rows i32) (param $y i32) (param $fast i32)
    (local $r i32) (local $k i32) (local $f i32) (local $f0 i32) (local $acc v128) (local $s f32)
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $f0 (i32.mul (i32.add (local.get $m0) (local.get $r)) (local.get $cols)))
      (local.set $acc (f32x4.splat (f32.const 0)))
      (local.set $k (i32.const 0))
      (if (local.get $fast) (then
        (block $vdone (loop $vloop
          (br_if $vdone (i32.gt_u (i32.add (local.get $k) (i32.const 4)) (local.get $cols)))
          (local.set $acc ${madd(fma, v, '(v128.load (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))', '(local.get $acc)')})
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $vloop)))))
      (local.set $s (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
        (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
      (block $sdone (loop $sloop
        (br_if $sdone (i32.ge_u (local.get $k) (local.get $cols)))
        (local.set $f (i32.add (local.get $f0) (local.get $k)))
        (local.set $s (f32.add (local.get $s) (f32.mul ${elem(mode)} (f32.load (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2)))))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $sloop)))
      (f32.store (i32.add (local.get $y) (i32.shl (i32.add (local.get $m0) (local.get $r)) (i32.const 2))) (local.get $s))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop))))`;
}

/** The whole module's text; `fma` picks relaxed_madd (needs the relaxed-SIMD feature) over mul + add. */
export function gemmWat(fma: boolean): string {
  return `;; Generated by gemm-wat.ts (${fma ? 'relaxed-SIMD FMA' : 'SIMD128'}); do not edit.
(module
  (import "env" "memory" (memory 1 65536 shared))
  ${halfConversions}
  ${microkernel(fma)}
  ${gemmPanel}
  ${packA}
  ${crossEntropy}
  ${GEMM_MODES.map(packT).join('\n')}
  ${GEMM_MODES.map(packN).join('\n')}
  ${GEMM_MODES.map((m) => gemv(m, fma)).join('\n')}
)
`;
}
