// Decoding the stored forms. x86-64 builds use AVX2/FMA/F16C (checked at start-up: cpuRunsKernels); elsewhere the
// plain loops below, which the compiler vectorises for the target.
#include <cmath>
#include <cstring>

#include "matrix.h"

#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#define LORA_AVX2 1
#endif

namespace lora {

static float g_nf4[16];

void setNf4Levels(const float* levels) { memcpy(g_nf4, levels, sizeof g_nf4); }

static inline float f16ToF32(uint16_t h) {
#if defined(LORA_AVX2)
  return _cvtsh_ss(h);
#else
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ff;
  float v;
  if (exp == 0)
    v = std::ldexp((float)man, -24);
  else if (exp == 31)
    v = man ? NAN : INFINITY;
  else
    v = std::ldexp((float)(man | 0x400), (int)exp - 25);
  uint32_t bits;
  memcpy(&bits, &v, 4);
  bits |= sign;
  memcpy(&v, &bits, 4);
  return v;
#endif
}

static inline float bf16ToF32(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float v;
  memcpy(&v, &bits, 4);
  return v;
}

static inline float nf4At(const uint8_t* codes, size_t i) { return g_nf4[(codes[i >> 1] >> ((i & 1) * 4)) & 15]; }

// The scalar decode of one value (tails, and targets without AVX2).
static inline float valueAt(const Matrix& m, size_t i) {
  switch (m.mode) {
    case kF32:
      return static_cast<const float*>(m.data)[i];
    case kBF16:
      return bf16ToF32(static_cast<const uint16_t*>(m.data)[i]);
    case kF16:
      return f16ToF32(static_cast<const uint16_t*>(m.data)[i]);
    case kInt8:
      return (float)static_cast<const int8_t*>(m.data)[i] * m.scales[i / kQuantBlock];
    case kNF4:
      return nf4At(static_cast<const uint8_t*>(m.data), i) * m.scales[i / kQuantBlock];
  }
  return 0.f;
}

#if defined(LORA_AVX2)
// Eight values from index i (i even for NF4), times `scale` for the blocked modes.
static inline __m256 load8(const Matrix& m, size_t i, __m256 scale) {
  switch (m.mode) {
    case kF32:
      return _mm256_loadu_ps(static_cast<const float*>(m.data) + i);
    case kBF16: {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(m.data) + i));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    case kF16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(m.data) + i)));
    case kInt8: {
      __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(m.data) + i));
      return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), scale);
    }
    case kNF4: {
      uint32_t word;
      memcpy(&word, static_cast<const uint8_t*>(m.data) + (i >> 1), 4);
      const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
      __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), shifts), _mm256_set1_epi32(15));
      __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(g_nf4), idx);
      __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(g_nf4 + 8), idx);
      __m256 v = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
      return _mm256_mul_ps(v, scale);
    }
  }
  return _mm256_setzero_ps();
}
#endif

// Calls f(segmentStart, segmentEnd, scale) over [start, end) cut at quantization-block edges (one segment for the
// unblocked modes), so a vector loop sees one scale.
template <typename F>
static inline void bySegment(const Matrix& m, size_t start, size_t end, F f) {
  if (m.mode != kInt8 && m.mode != kNF4) {
    f(start, end, 1.f);
    return;
  }
  for (size_t s = start; s < end;) {
    size_t block = s / kQuantBlock;
    size_t e = std::min(end, (block + 1) * (size_t)kQuantBlock);
    f(s, e, m.scales[block]);
    s = e;
  }
}

void decodeRun(const Matrix& m, size_t start, int len, float* out) {
  if (m.mode == kF32) {
    memcpy(out, static_cast<const float*>(m.data) + start, (size_t)len * 4);
    return;
  }
  bySegment(m, start, start + len, [&](size_t s, size_t e, float scale) {
    size_t i = s;
#if defined(LORA_AVX2)
    if (m.mode == kNF4 && (i & 1) && i < e) {
      out[i - start] = valueAt(m, i);
      i++;
    }
    const __m256 vs = _mm256_set1_ps(scale);
    for (; i + 8 <= e; i += 8) _mm256_storeu_ps(out + (i - start), load8(m, i, vs));
#endif
    for (; i < e; i++) out[i - start] = valueAt(m, i);
  });
}

float dotRun(const Matrix& m, size_t start, int len, const float* x) {
  float total = 0.f;
#if defined(LORA_AVX2)
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
#endif
  bySegment(m, start, start + len, [&](size_t s, size_t e, float scale) {
    size_t i = s;
#if defined(LORA_AVX2)
    if (m.mode == kNF4 && (i & 1) && i < e) {
      total += valueAt(m, i) * x[i - start];
      i++;
    }
    const __m256 vs = _mm256_set1_ps(scale);
    for (; i + 16 <= e; i += 16) {
      acc0 = _mm256_fmadd_ps(load8(m, i, vs), _mm256_loadu_ps(x + (i - start)), acc0);
      acc1 = _mm256_fmadd_ps(load8(m, i + 8, vs), _mm256_loadu_ps(x + (i - start) + 8), acc1);
    }
    for (; i + 8 <= e; i += 8) acc0 = _mm256_fmadd_ps(load8(m, i, vs), _mm256_loadu_ps(x + (i - start)), acc0);
#endif
    for (; i < e; i++) total += valueAt(m, i) * x[i - start];
  });
#if defined(LORA_AVX2)
  __m256 acc = _mm256_add_ps(acc0, acc1);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  total += _mm_cvtss_f32(s4);
#endif
  return total;
}

}  // namespace lora
