#include "elementwise.h"

#include <algorithm>
#include <cmath>

#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#define LORA_AVX2 1
#endif

namespace lora {

namespace {

constexpr int kRowsPerTask = 16;
constexpr size_t kValuesPerTask = 16384;

int ceilDiv(size_t a, size_t b) { return (int)((a + b - 1) / b); }

#if defined(LORA_AVX2)
// Cephes' expf, eight lanes: e^x = 2^n · e^r with r = x − n·ln2 (ln2 split in two for exactness), a degree-5
// polynomial for e^r. Below −87.3 (where expf goes subnormal) it gives 0.
inline __m256 exp8(__m256 x) {
  const __m256 tooSmall = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ);
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.33654f));
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(tooSmall, _mm256_mul_ps(y, _mm256_castsi256_ps(n)));
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 sigmoid8(__m256 g) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), g))));
}
#endif

inline float sigmoid(float g) { return 1.f / (1.f + std::exp(-g)); }

}  // namespace

void expRow(const float* x, float shift, int count, float* out) {
  int j = 0;
#if defined(LORA_AVX2)
  const __m256 s = _mm256_set1_ps(shift);
  for (; j + 8 <= count; j += 8) _mm256_storeu_ps(out + j, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), s)));
  if (j < count) {
    float tmp[8] = {0}, res[8];
    for (int t = 0; j + t < count; t++) tmp[t] = x[j + t];
    _mm256_storeu_ps(res, exp8(_mm256_sub_ps(_mm256_loadu_ps(tmp), s)));
    for (int t = 0; j + t < count; t++) out[j + t] = res[t];
    j = count;
  }
#endif
  for (; j < count; j++) out[j] = std::exp(x[j] - shift);
}

bool rowMaxSumExp(Pool& pool, const float* x, int n, int v, double* max, double* sum, std::string& why) {
  return pool.run(
      ceilDiv(n, kRowsPerTask),
      [&](int task, int thread) {
        float* buf = pool.scratch(thread, v);
        for (int i = task * kRowsPerTask; i < std::min(n, (task + 1) * kRowsPerTask); i++) {
          const float* row = x + (size_t)i * v;
          float m = -INFINITY;
          for (int j = 0; j < v; j++) m = std::max(m, row[j]);
          expRow(row, m, v, buf);
          double s = 0;
          for (int j = 0; j < v; j++) s += buf[j];
          max[i] = m;
          sum[i] = s;
        }
      },
      why, (size_t)n * v > kValuesPerTask);
}

bool softmaxGrad(Pool& pool, const float* x, int n, int v, const double* lse, const float* coef, const int32_t* targets,
                 float* out, std::string& why) {
  return pool.run(
      ceilDiv(n, kRowsPerTask),
      [&](int task, int) {
        for (int i = task * kRowsPerTask; i < std::min(n, (task + 1) * kRowsPerTask); i++) {
          float* o = out + (size_t)i * v;
          expRow(x + (size_t)i * v, (float)lse[i], v, o);
          const float c = coef[i];
          for (int j = 0; j < v; j++) o[j] *= c;
          if (targets[i] >= 0 && targets[i] < v) o[targets[i]] -= c;
        }
      },
      why, (size_t)n * v > kValuesPerTask);
}

bool rmsNormForward(Pool& pool, const float* x, const float* w, int n, int h, float eps, float* y, float* rstd,
                    std::string& why) {
  const int rows = std::max(1, (int)(kValuesPerTask / std::max(1, h)));
  return pool.run(
      ceilDiv(n, rows),
      [&](int task, int) {
        for (int i = task * rows; i < std::min(n, (task + 1) * rows); i++) {
          const float* xi = x + (size_t)i * h;
          float ss = 0.f;
          int j = 0;
#if defined(LORA_AVX2)
          __m256 acc = _mm256_setzero_ps();
          for (; j + 8 <= h; j += 8) {
            __m256 v = _mm256_loadu_ps(xi + j);
            acc = _mm256_fmadd_ps(v, v, acc);
          }
          ss = hsum(acc);
#endif
          for (; j < h; j++) ss += xi[j] * xi[j];
          const float r = 1.f / std::sqrt(ss / (float)h + eps);
          rstd[i] = r;
          float* yi = y + (size_t)i * h;
          for (j = 0; j < h; j++) yi[j] = xi[j] * r * w[j];
        }
      },
      why, (size_t)n * h > kValuesPerTask);
}

bool rmsNormBackward(Pool& pool, const float* x, const float* w, const float* rstd, const float* dy, int n, int h,
                     float* dx, std::string& why) {
  const int rows = std::max(1, (int)(kValuesPerTask / std::max(1, h)));
  return pool.run(
      ceilDiv(n, rows),
      [&](int task, int) {
        for (int i = task * rows; i < std::min(n, (task + 1) * rows); i++) {
          const float* xi = x + (size_t)i * h;
          const float* gi = dy + (size_t)i * h;
          float dot = 0.f;
          for (int j = 0; j < h; j++) dot += w[j] * gi[j] * xi[j];
          const float r = rstd[i];
          const float k = r * r * r * dot / (float)h;
          float* o = dx + (size_t)i * h;
          for (int j = 0; j < h; j++) o[j] = r * w[j] * gi[j] - xi[j] * k;
        }
      },
      why, (size_t)n * h > kValuesPerTask);
}

bool swigluForward(Pool& pool, const float* g, const float* u, size_t count, float* y, std::string& why) {
  return pool.run(
      ceilDiv(count, kValuesPerTask),
      [&](int task, int) {
        size_t j = (size_t)task * kValuesPerTask;
        const size_t end = std::min(count, j + kValuesPerTask);
#if defined(LORA_AVX2)
        for (; j + 8 <= end; j += 8) {
          __m256 gv = _mm256_loadu_ps(g + j);
          _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_mul_ps(gv, sigmoid8(gv)), _mm256_loadu_ps(u + j)));
        }
#endif
        for (; j < end; j++) y[j] = g[j] * sigmoid(g[j]) * u[j];
      },
      why, count > kValuesPerTask);
}

bool swigluBackward(Pool& pool, const float* g, const float* u, const float* dy, size_t count, float* dg, float* du,
                    std::string& why) {
  // y = g·σ(g)·u: dy/du = g·σ(g); dy/dg = u·σ(g)·(1 + g·(1 − σ(g)))
  return pool.run(
      ceilDiv(count, kValuesPerTask),
      [&](int task, int) {
        size_t j = (size_t)task * kValuesPerTask;
        const size_t end = std::min(count, j + kValuesPerTask);
#if defined(LORA_AVX2)
        const __m256 one = _mm256_set1_ps(1.f);
        for (; j + 8 <= end; j += 8) {
          __m256 gv = _mm256_loadu_ps(g + j), uv = _mm256_loadu_ps(u + j), d = _mm256_loadu_ps(dy + j);
          __m256 s = sigmoid8(gv);
          _mm256_storeu_ps(du + j, _mm256_mul_ps(d, _mm256_mul_ps(gv, s)));
          __m256 k = _mm256_add_ps(one, _mm256_mul_ps(gv, _mm256_sub_ps(one, s)));
          _mm256_storeu_ps(dg + j, _mm256_mul_ps(_mm256_mul_ps(d, uv), _mm256_mul_ps(s, k)));
        }
#endif
        for (; j < end; j++) {
          const float s = sigmoid(g[j]);
          du[j] = dy[j] * g[j] * s;
          dg[j] = dy[j] * u[j] * (s * (1.f + g[j] * (1.f - s)));
        }
      },
      why, count > kValuesPerTask);
}

}  // namespace lora
