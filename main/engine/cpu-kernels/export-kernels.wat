;; The export's hot loops in wasm SIMD, bit for bit what their JS versions give (q8-0.ts, dtypes.ts, low-rank.ts):
;; ggml's Q8_0 with its error tally, bf16 → f32, f32 / bf16 → f16 with theirs, and the LoRA merge. wasm-kernels.ts
;; lays out the memory for each call. `npm run build:wasm` assembles this file into export-kernels-wasm.ts; a test
;; checks that the two agree.
(module
  (memory (export "memory") 2)

  ;; max |x| over the 32 values at $p, NaNs skipped: f32x4.pmax(acc, a) is `acc < a ? a : acc`, never NaN.
  (func $absmax (param $p i32) (result f32)
    (local $acc v128) (local $m f32) (local $l f32)
    (local.set $acc (f32x4.pmax (f32x4.splat (f32.const 0)) (f32x4.abs (v128.load offset=0 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=16 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=32 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=48 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=64 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=80 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=96 (local.get $p)))))
    (local.set $acc (f32x4.pmax (local.get $acc) (f32x4.abs (v128.load offset=112 (local.get $p)))))
    (local.set $m (f32x4.extract_lane 0 (local.get $acc)))
    (local.set $l (f32x4.extract_lane 1 (local.get $acc)))
    (local.set $m (select (local.get $l) (local.get $m) (f32.lt (local.get $m) (local.get $l))))
    (local.set $l (f32x4.extract_lane 2 (local.get $acc)))
    (local.set $m (select (local.get $l) (local.get $m) (f32.lt (local.get $m) (local.get $l))))
    (local.set $l (f32x4.extract_lane 3 (local.get $acc)))
    (select (local.get $l) (local.get $m) (f32.lt (local.get $m) (local.get $l))))

  ;; f32 → f16 bits, round to nearest even, for the scales d ≥ 0 (never NaN: absmax skips NaNs), as dtypes.ts's
  ;; f32BitsToF16Bits: too large → inf, below half the smallest subnormal → 0, a carry rolls into the exponent.
  (func $f16 (param $x f32) (result i32)
    (local $bits i32) (local $e i32) (local $mant i32) (local $shift i32) (local $half i32) (local $rem i32) (local $mid i32)
    (local.set $bits (i32.reinterpret_f32 (local.get $x)))
    (local.set $mant (i32.and (local.get $bits) (i32.const 0x7fffff)))
    (local.set $e (i32.sub (i32.shr_u (local.get $bits) (i32.const 23)) (i32.const 112))) ;; rebias 127 → 15
    (if (i32.ge_s (local.get $e) (i32.const 31)) (then (return (i32.const 0x7c00)))) ;; inf, or too large
    (if (i32.le_s (local.get $e) (i32.const 0))
      (then
        (if (i32.lt_s (local.get $e) (i32.const -10)) (then (return (i32.const 0))))
        ;; a subnormal half: the implicit bit made explicit, shifted into place
        (local.set $mant (i32.or (local.get $mant) (i32.const 0x800000)))
        (local.set $shift (i32.sub (i32.const 14) (local.get $e)))
        (local.set $half (i32.shr_u (local.get $mant) (local.get $shift)))
        (local.set $rem (i32.and (local.get $mant) (i32.sub (i32.shl (i32.const 1) (local.get $shift)) (i32.const 1))))
        (local.set $mid (i32.shl (i32.const 1) (i32.sub (local.get $shift) (i32.const 1)))))
      (else
        (local.set $half (i32.or (i32.shl (local.get $e) (i32.const 10)) (i32.shr_u (local.get $mant) (i32.const 13))))
        (local.set $rem (i32.and (local.get $mant) (i32.const 0x1fff)))
        (local.set $mid (i32.const 0x1000))))
    (i32.add (local.get $half)
      (i32.or (i32.gt_u (local.get $rem) (local.get $mid))
              (i32.and (i32.eq (local.get $rem) (local.get $mid)) (i32.and (local.get $half) (i32.const 1))))))

  ;; f16 bits (non-negative, not NaN) → f32, exact.
  (func $f32 (param $h i32) (result f32)
    (local $exp i32) (local $mant i32)
    (local.set $exp (i32.shr_u (local.get $h) (i32.const 10)))
    (local.set $mant (i32.and (local.get $h) (i32.const 0x3ff)))
    (if (i32.eq (local.get $exp) (i32.const 0x1f)) (then (return (f32.const inf))))
    (if (i32.eqz (local.get $exp)) (then (return (f32.mul (f32.convert_i32_u (local.get $mant)) (f32.const 0x1p-24)))))
    (f32.reinterpret_i32
      (i32.or (i32.shl (i32.add (local.get $exp) (i32.const 112)) (i32.const 23)) (i32.shl (local.get $mant) (i32.const 13)))))

  ;; $blocks blocks of 32 f32 from $src into $dst, 34 bytes each: d = max|x| / 127 as f16, then q = round(x / d) as
  ;; int8; each block's f16(d) back as f32 at $back + 4b (the tally's scale).
  (func (export "quantize") (param $src i32) (param $blocks i32) (param $dst i32) (param $back i32)
    (local $b i32) (local $k i32) (local $d f32) (local $id f32) (local $h i32) (local $idv v128) (local $y v128) (local $t v128)
    (local $away v128) (local $q v128)
    (if (i32.eqz (local.get $blocks)) (then (return)))
    (loop $block
      (local.set $d (f32.div (call $absmax (local.get $src)) (f32.const 127)))
      (local.set $h (call $f16 (local.get $d)))
      (i32.store16 (local.get $dst) (local.get $h))
      (f32.store (local.get $back) (call $f32 (local.get $h)))
      ;; the f32 d, not its f16 rounding, scales the values
      (local.set $id (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0))))
      (if (f32.eq (local.get $id) (f32.const inf))
        ;; d so small that 1/d overflows: every x · (1/d) is ±inf or NaN, which JS's `| 0` (and x86's cast) make 0.
        (then
          (v128.store offset=2 (local.get $dst) (v128.const i32x4 0 0 0 0))
          (v128.store offset=18 (local.get $dst) (v128.const i32x4 0 0 0 0)))
        (else
          (local.set $idv (f32x4.splat (local.get $id)))
          (local.set $k (i32.const 0))
          (loop $four
            ;; round(x · id) of 4 values, halves away from zero (C's roundf): trunc(y), plus ±1 with y's sign when
            ;; |y - trunc(y)| ≥ 0.5. Exact in f32; NaN becomes 0, as trunc_sat and JS's `| 0` make it.
            (local.set $y (f32x4.mul (v128.load (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 4)))) (local.get $idv)))
            (local.set $t (f32x4.trunc (local.get $y)))
            (local.set $away
              (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
                       (v128.const f32x4 1 1 1 1)))
            (local.set $q
              (i32x4.trunc_sat_f32x4_s
                (f32x4.add (local.get $t)
                  (v128.and (local.get $away)
                    (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))))))
            ;; the low byte of each, as an Int8Array store wraps (|q| < 256 whenever 1/d is finite)
            (v128.store32_lane offset=2 0
              (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 2)))
              (i8x16.shuffle 0 4 8 12 0 0 0 0 0 0 0 0 0 0 0 0 (local.get $q) (local.get $q)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $four (i32.lt_u (local.get $k) (i32.const 8))))))
      (local.set $src (i32.add (local.get $src) (i32.const 128)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 34)))
      (local.set $back (i32.add (local.get $back) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $block (i32.lt_u (local.get $b) (local.get $blocks)))))

;; $n bf16 values (a multiple of 8) at $from as f32 at $to: each value's 16 bits become the f32's top half.
  (func (export "bf16_to_f32") (param $from i32) (param $n i32) (param $to i32)
    (local $i i32) (local $v v128)
    (if (i32.eqz (local.get $n)) (then (return)))
    (loop $eight
      (local.set $v (v128.load (local.get $from)))
      (v128.store offset=0 (local.get $to) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16)))
      (v128.store offset=16 (local.get $to) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16)))
      (local.set $from (i32.add (local.get $from) (i32.const 16)))
      (local.set $to (i32.add (local.get $to) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $eight (i32.lt_u (local.get $i) (local.get $n)))))

;; f32 bits → f16 bits of 4 values (in the low 16 bits of each lane), round to nearest even, as dtypes.ts's
  ;; f32BitsToF16Bits: past f16's range → ±inf; NaN keeps its top 10 payload bits (0x200 when they are all 0); below
  ;; 2^-14 the f32 addition of 0.5 rounds the value to f16's subnormal step (2^-24), whose bits are then the half's.
  (func $halves4 (param $v v128) (result v128)
    (local $sign v128) (local $a v128) (local $m13 v128) (local $nan v128) (local $big v128) (local $sub v128) (local $norm v128)
    (local.set $sign (v128.and (local.get $v) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)))
    (local.set $a (v128.xor (local.get $v) (local.get $sign)))
    ;; inf or NaN: |x| ≥ 65536 (the carry of rounding takes [65520, 65536) there too, below)
    (local.set $m13 (i32x4.shr_u (v128.and (local.get $a) (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff)) (i32.const 13)))
    (local.set $nan
      (v128.or (v128.or (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00) (local.get $m13))
               (v128.and (i32x4.eq (local.get $m13) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 0x200 0x200 0x200 0x200))))
    (local.set $big
      (v128.bitselect (local.get $nan) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)
        (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))
    ;; subnormal half: |x| + 0.5 in f32, less 0.5's bits
    (local.set $sub
      (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5)) (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
    ;; normal half: rebias the exponent and add 0xfff plus the kept mantissa's lowest bit (ties to even), then shift
    (local.set $norm
      (i32x4.shr_u
        (i32x4.add
          (i32x4.add (local.get $a) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff)) ;; -112 << 23, + 0xfff
          (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
        (i32.const 13)))
    (v128.or
      (v128.bitselect (local.get $big)
        (v128.bitselect (local.get $sub) (local.get $norm)
          (i32x4.lt_s (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000))) ;; 2^-14
        (i32x4.ge_s (local.get $a) (v128.const i32x4 0x47800000 0x47800000 0x47800000 0x47800000))) ;; 65536
      (i32x4.shr_u (local.get $sign) (i32.const 16))))

  ;; $n f32 values (a multiple of 8) at $src as f16 at $dst.
  (func (export "f32_to_f16") (param $src i32) (param $n i32) (param $dst i32)
    (local $i i32)
    (if (i32.eqz (local.get $n)) (then (return)))
    (loop $eight
      (v128.store (local.get $dst)
        (i16x8.narrow_i32x4_u (call $halves4 (v128.load offset=0 (local.get $src))) (call $halves4 (v128.load offset=16 (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $eight (i32.lt_u (local.get $i) (local.get $n)))))

  ;; $n bf16 values (a multiple of 8) at $src as f16 at $dst (each bf16 is the top half of an f32).
  (func (export "bf16_to_f16") (param $src i32) (param $n i32) (param $dst i32)
    (local $i i32) (local $v v128)
    (if (i32.eqz (local.get $n)) (then (return)))
    (loop $eight
      (local.set $v (v128.load (local.get $src)))
      (v128.store (local.get $dst)
        (i16x8.narrow_i32x4_u
          (call $halves4 (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16)))
          (call $halves4 (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16)))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $eight (i32.lt_u (local.get $i) (local.get $n)))))

  ;; f16 bits of 4 values (low 16 bits of each lane) → f32, exact, as dtypes.ts's f16BitsToF32Bits: the exponent
  ;; rebiased; inf and NaN rebiased once more; a subnormal made normal as 2^-14 · (1 + m/1024), less 2^-14.
  (func $floats4 (param $h v128) (result v128)
    (local $o v128) (local $exp v128)
    (local.set $o (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13)))
    (local.set $exp (v128.and (local.get $o) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000)))
    (local.set $o (i32x4.add (local.get $o) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000))) ;; 112 << 23
    (local.set $o
      (v128.bitselect (i32x4.add (local.get $o) (v128.const i32x4 0x38000000 0x38000000 0x38000000 0x38000000)) (local.get $o)
        (i32x4.eq (local.get $exp) (v128.const i32x4 0x0f800000 0x0f800000 0x0f800000 0x0f800000))))
    (local.set $o
      (v128.bitselect
        (f32x4.sub (i32x4.add (local.get $o) (v128.const i32x4 0x00800000 0x00800000 0x00800000 0x00800000)) (v128.const f32x4 0x1p-14 0x1p-14 0x1p-14 0x1p-14))
        (local.get $o)
        (i32x4.eq (local.get $exp) (v128.const i32x4 0 0 0 0))))
    (v128.or (local.get $o) (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))))

;; Error tallies. A tensor's tally is a max (NaNs skipped, as `e > max` skips them) and a sum, in f64, of each
  ;; value's |x - stored(x)|. The sum goes a row at a time, each row in blocks of 32 values from its start, then its
  ;; last values (fewer than 32) one by one. A block's errors s[0..31] go into 8 running sums c[r] += s[8i + r]
  ;; (i = 0..3, as four f64x2), which add up as ((c0 + c2) + (c4 + c6)) + ((c1 + c3) + (c5 + c7)); the block sums are
  ;; added in order. The order is fixed by the rows alone, so a tensor's figures are the same whatever its pieces and
  ;; threads; the JS twins (q8-0.ts, wasm-kernels.ts) sum the same way.
  (func $blocksum (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (result f64)
    (local $b v128)
    (local.set $b (f64x2.add (f64x2.add (local.get $a0) (local.get $a1)) (f64x2.add (local.get $a2) (local.get $a3))))
    (f64.add (f64x2.extract_lane 0 (local.get $b)) (f64x2.extract_lane 1 (local.get $b))))

  ;; The running max's two lanes and the stored max, NaNs skipped.
  (func $max2 (param $mx v128) (result f64)
    (local $m f64) (local $l f64)
    (local.set $m (f64x2.extract_lane 0 (local.get $mx)))
    (local.set $l (f64x2.extract_lane 1 (local.get $mx)))
    (select (local.get $l) (local.get $m) (f64.gt (local.get $l) (local.get $m))))

  ;; Q8_0's tally over $blocks blocks (rows are whole blocks), into the max and sum at $state. $back holds each block's
  ;; f16(d) as f32.
  (func (export "tally") (param $src i32) (param $blocks i32) (param $dst i32) (param $back i32) (param $state i32)
    (local $b i32) (local $i i32) (local $db v128) (local $mx v128) (local $sum f64) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $qp i32) (local $x v128) (local $q v128)
    (if (i32.eqz (local.get $blocks)) (then (return)))
    (local.set $mx (f64x2.splat (f64.load offset=0 (local.get $state))))
    (local.set $sum (f64.load offset=8 (local.get $state)))
    (loop $block
      (local.set $db (f64x2.splat (f64.promote_f32 (f32.load (local.get $back)))))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $a2 (v128.const i64x2 0 0))
      (local.set $a3 (v128.const i64x2 0 0))
      (local.set $qp (i32.add (local.get $dst) (i32.const 2)))
      (local.set $i (i32.const 0))
      (loop $eight
        ;; |x - f16(d) · q| of 4 values and their int8, in f64 as JS computes it (values 0-1, then 2-3), twice. Written
        ;; out: a call that returns two values costs more than the work here.
        (local.set $x (v128.load (local.get $src)))
        (local.set $q (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (v128.load32_zero (local.get $qp)))))
        (local.set $lo (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x))
                                             (f64x2.mul (local.get $db) (f64x2.convert_low_i32x4_s (local.get $q))))))
        (local.set $hi
          (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $x) (local.get $x)))
                                (f64x2.mul (local.get $db)
                                  (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $q) (local.get $q)))))))
        (local.set $a0 (f64x2.add (local.get $a0) (local.get $lo)))
        (local.set $a1 (f64x2.add (local.get $a1) (local.get $hi)))
        (local.set $mx (f64x2.pmax (f64x2.pmax (local.get $mx) (local.get $lo)) (local.get $hi)))
        (local.set $x (v128.load offset=16 (local.get $src)))
        (local.set $q (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (v128.load32_zero offset=4 (local.get $qp)))))
        (local.set $lo (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x))
                                             (f64x2.mul (local.get $db) (f64x2.convert_low_i32x4_s (local.get $q))))))
        (local.set $hi
          (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $x) (local.get $x)))
                                (f64x2.mul (local.get $db)
                                  (f64x2.convert_low_i32x4_s (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $q) (local.get $q)))))))
        (local.set $a2 (f64x2.add (local.get $a2) (local.get $lo)))
        (local.set $a3 (f64x2.add (local.get $a3) (local.get $hi)))
        (local.set $mx (f64x2.pmax (f64x2.pmax (local.get $mx) (local.get $lo)) (local.get $hi)))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $qp (i32.add (local.get $qp) (i32.const 8)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $eight (i32.lt_u (local.get $i) (i32.const 4))))
      (local.set $sum (f64.add (local.get $sum) (call $blocksum (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 34)))
      (local.set $back (i32.add (local.get $back) (i32.const 4)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $block (i32.lt_u (local.get $b) (local.get $blocks))))
    (f64.store offset=0 (local.get $state) (call $max2 (local.get $mx)))
    (f64.store offset=8 (local.get $state) (local.get $sum)))

  ;; F16's tally over $rows rows of $cols f32 values at $src against their halves at $halves, into $state.
  (func (export "tally_f16") (param $src i32) (param $rows i32) (param $cols i32) (param $halves i32) (param $state i32)
    (local $r i32) (local $c i32) (local $i i32) (local $mx v128) (local $sum f64) (local $lo v128) (local $hi v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $e f64) (local $x v128) (local $f v128)
    (if (i32.eqz (local.get $rows)) (then (return)))
    (local.set $mx (f64x2.splat (f64.load offset=0 (local.get $state))))
    (local.set $sum (f64.load offset=8 (local.get $state)))
    (loop $row
      (local.set $c (i32.const 0))
      (block $blocks_done
        (loop $block
          (br_if $blocks_done (i32.gt_u (i32.add (local.get $c) (i32.const 32)) (local.get $cols)))
          (local.set $a0 (v128.const i64x2 0 0))
          (local.set $a1 (v128.const i64x2 0 0))
          (local.set $a2 (v128.const i64x2 0 0))
          (local.set $a3 (v128.const i64x2 0 0))
          (local.set $i (i32.const 0))
          (loop $eight
            ;; |x - f16(x)| of 4 values against their halves (values 0-1, then 2-3), twice, written out as in "tally"
            (local.set $x (v128.load (local.get $src)))
            (local.set $f (call $floats4 (i32x4.extend_low_i16x8_u (v128.load64_zero (local.get $halves)))))
            (local.set $lo (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.promote_low_f32x4 (local.get $f)))))
            (local.set $hi
              (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $x) (local.get $x)))
                                    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $f) (local.get $f))))))
            (local.set $a0 (f64x2.add (local.get $a0) (local.get $lo)))
            (local.set $a1 (f64x2.add (local.get $a1) (local.get $hi)))
            (local.set $mx (f64x2.pmax (f64x2.pmax (local.get $mx) (local.get $lo)) (local.get $hi)))
            (local.set $x (v128.load offset=16 (local.get $src)))
            (local.set $f (call $floats4 (i32x4.extend_low_i16x8_u (v128.load64_zero offset=8 (local.get $halves)))))
            (local.set $lo (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (local.get $x)) (f64x2.promote_low_f32x4 (local.get $f)))))
            (local.set $hi
              (f64x2.abs (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $x) (local.get $x)))
                                    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $f) (local.get $f))))))
            (local.set $a2 (f64x2.add (local.get $a2) (local.get $lo)))
            (local.set $a3 (f64x2.add (local.get $a3) (local.get $hi)))
            (local.set $mx (f64x2.pmax (f64x2.pmax (local.get $mx) (local.get $lo)) (local.get $hi)))
            (local.set $src (i32.add (local.get $src) (i32.const 32)))
            (local.set $halves (i32.add (local.get $halves) (i32.const 16)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $eight (i32.lt_u (local.get $i) (i32.const 4))))
          (local.set $sum (f64.add (local.get $sum) (call $blocksum (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))))
          (local.set $c (i32.add (local.get $c) (i32.const 32)))
          (br $block)))
      ;; the row's last values, one by one
      (block $tail_done
        (loop $tail
          (br_if $tail_done (i32.ge_u (local.get $c) (local.get $cols)))
          (local.set $e
            (f64.abs (f64.sub (f64.promote_f32 (f32.load (local.get $src)))
                              (f64.promote_f32 (f32x4.extract_lane 0 (call $floats4 (i32x4.splat (i32.load16_u (local.get $halves)))))))))
          (local.set $mx (f64x2.pmax (local.get $mx) (f64x2.splat (local.get $e))))
          (local.set $sum (f64.add (local.get $sum) (local.get $e)))
          (local.set $src (i32.add (local.get $src) (i32.const 4)))
          (local.set $halves (i32.add (local.get $halves) (i32.const 2)))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $tail)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br_if $row (i32.lt_u (local.get $r) (local.get $rows))))
    (f64.store offset=0 (local.get $state) (call $max2 (local.get $mx)))
    (f64.store offset=8 (local.get $state) (local.get $sum)))

  ;; A LoRA update, low-rank.ts's LowRankUpdate bit for bit: $rows rows of $cols f32 at $w each get
  ;; Σ_k coef[row, k] · A[k, col] added, the sum in f64 over k ascending from +0, added to the value once and rounded
  ;; to f32 (JS's `w[i] += sum` on a Float32Array). A is lora_A as f64, [$r, $cols] at $a; the coefficients
  ;; (scale · B[row, k]) are f64 at $coef, $r a row. 8 columns at a time (4 f64x2 sums, so 4 chains of additions run
  ;; side by side), the last cols % 8 one by one. Written out with no calls: V8 does not inline them here. Returns 1
  ;; when a merged value is NaN or ±Inf (x - x is 0 only for finite x; a NaN in the running sum stays), else 0.
  (func (export "add_low_rank") (param $w i32) (param $rows i32) (param $cols i32) (param $a i32) (param $r i32) (param $coef i32)
    (result i32)
    (local $row i32) (local $i i32) (local $k i32) (local $vec i32) (local $stride i32) (local $ap i32) (local $cp i32) (local $p i32)
    (local $c v128) (local $v v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s f64)
    (local $out v128) (local $probe v128) (local $x f32) (local $probe1 f32)
    (if (i32.or (i32.eqz (local.get $rows)) (i32.eqz (local.get $r))) (then (return (i32.const 0))))
    (local.set $vec (i32.and (local.get $cols) (i32.const -8)))
    (local.set $stride (i32.shl (local.get $cols) (i32.const 3)))
    (loop $row
      (local.set $i (i32.const 0))
      (block $vectors_done
        (br_if $vectors_done (i32.eqz (local.get $vec)))
        (loop $eight
          (local.set $s0 (v128.const f64x2 0 0))
          (local.set $s1 (v128.const f64x2 0 0))
          (local.set $s2 (v128.const f64x2 0 0))
          (local.set $s3 (v128.const f64x2 0 0))
          (local.set $ap (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $cp (local.get $coef))
          (local.set $k (i32.const 0))
          (loop $rank
            (local.set $c (f64x2.splat (f64.load (local.get $cp))))
            (local.set $s0 (f64x2.add (local.get $s0) (f64x2.mul (local.get $c) (v128.load offset=0 (local.get $ap)))))
            (local.set $s1 (f64x2.add (local.get $s1) (f64x2.mul (local.get $c) (v128.load offset=16 (local.get $ap)))))
            (local.set $s2 (f64x2.add (local.get $s2) (f64x2.mul (local.get $c) (v128.load offset=32 (local.get $ap)))))
            (local.set $s3 (f64x2.add (local.get $s3) (f64x2.mul (local.get $c) (v128.load offset=48 (local.get $ap)))))
            (local.set $ap (i32.add (local.get $ap) (local.get $stride)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 8)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $rank (i32.lt_u (local.get $k) (local.get $r))))
          ;; w += the sums: 4 f32 promoted, added in f64, demoted, twice
          (local.set $p (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2))))
          (local.set $v (v128.load (local.get $p)))
          (local.set $out
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $v)) (local.get $s0)))
              (f32x4.demote_f64x2_zero
                (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $v) (local.get $v)))
                           (local.get $s1)))))
          (v128.store (local.get $p) (local.get $out))
          (local.set $probe (f32x4.add (local.get $probe) (f32x4.sub (local.get $out) (local.get $out))))
          (local.set $v (v128.load offset=16 (local.get $p)))
          (local.set $out
            (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
              (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $v)) (local.get $s2)))
              (f32x4.demote_f64x2_zero
                (f64x2.add (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 0 0 0 0 0 0 0 (local.get $v) (local.get $v)))
                           (local.get $s3)))))
          (v128.store offset=16 (local.get $p) (local.get $out))
          (local.set $probe (f32x4.add (local.get $probe) (f32x4.sub (local.get $out) (local.get $out))))
          (local.set $i (i32.add (local.get $i) (i32.const 8)))
          (br_if $eight (i32.lt_u (local.get $i) (local.get $vec)))))
      (block $tail_done
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $cols)))
        (loop $one
          (local.set $s (f64.const 0))
          (local.set $ap (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $cp (local.get $coef))
          (local.set $k (i32.const 0))
          (loop $rank1
            (local.set $s (f64.add (local.get $s) (f64.mul (f64.load (local.get $cp)) (f64.load (local.get $ap)))))
            (local.set $ap (i32.add (local.get $ap) (local.get $stride)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 8)))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $rank1 (i32.lt_u (local.get $k) (local.get $r))))
          (local.set $p (i32.add (local.get $w) (i32.shl (local.get $i) (i32.const 2))))
          (local.set $x (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $p))) (local.get $s))))
          (f32.store (local.get $p) (local.get $x))
          (local.set $probe1 (f32.add (local.get $probe1) (f32.sub (local.get $x) (local.get $x))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $one (i32.lt_u (local.get $i) (local.get $cols)))))
      (local.set $w (i32.add (local.get $w) (i32.shl (local.get $cols) (i32.const 2))))
      (local.set $coef (i32.add (local.get $coef) (i32.shl (local.get $r) (i32.const 3))))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br_if $row (i32.lt_u (local.get $row) (local.get $rows))))
    (i32.or (v128.any_true (f32x4.ne (local.get $probe) (local.get $probe))) (f32.ne (local.get $probe1) (local.get $probe1))))
)
