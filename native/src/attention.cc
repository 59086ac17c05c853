#include "attention.h"

#include <algorithm>
#include <cmath>

#include "blas.h"
#include "elementwise.h"

#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#endif

namespace lora {

namespace {

// The score a masked key gets (model/llama.ts's MASKED): exp(MASKED − max) is 0, and a row with every key masked
// attends uniformly, as transformers' eager attention does.
constexpr float kMasked = -1e9f;

// y = x·cos + rotate_half(x)·sin on `rows` rows of one head (stride ld), rounded as tfjs's ops round it.
void rope(const float* x, float* y, int rows, int ld, int D, const float* cos, const float* sin) {
  const int half = D / 2;
  for (int t = 0; t < rows; t++) {
    const float* xi = x + (size_t)t * ld;
    float* yi = y + (size_t)t * ld;
    const float* c = cos + (size_t)t * D;
    const float* s = sin + (size_t)t * D;
    for (int i = 0; i < half; i++) {
      const float a = xi[i], b = xi[i + half];
      yi[i] = a * c[i] + (-b) * s[i];
      yi[i + half] = b * c[i + half] + a * s[i + half];
    }
  }
}

// The transpose of rope, in place: dx1 = dy1·cos + dy2·sin, dx2 = dy2·cos − dy1·sin.
void ropeBackward(float* d, int rows, int ld, int D, const float* cos, const float* sin) {
  const int half = D / 2;
  for (int t = 0; t < rows; t++) {
    float* di = d + (size_t)t * ld;
    const float* c = cos + (size_t)t * D;
    const float* s = sin + (size_t)t * D;
    for (int i = 0; i < half; i++) {
      const float a = di[i], b = di[i + half];
      di[i] = a * c[i] + b * s[i + half];
      di[i + half] = b * c[i + half] - a * s[i];
    }
  }
}

}  // namespace

bool attentionForward(Pool& pool, const AttentionShape& s, const float* q, const float* k, const float* v,
                      const float* cos, const float* sin, const float* keep, float* o, float* qr, float* kr,
                      float* probs, std::string& why) {
  const int T = s.T, D = s.D, rep = s.nH / s.nKV;
  const int ldq = s.nH * D, ldk = s.nKV * D;
  return pool.run(
      s.B * s.nKV,
      [&](int task, int) {
        const int b = task / s.nKV, g = task % s.nKV;
        const size_t row0 = (size_t)b * T;
        const float* mask = keep + (size_t)(s.maskBatches == 1 ? 0 : b) * T * T;
        rope(k + row0 * ldk + g * D, kr + row0 * ldk + g * D, T, ldk, D, cos, sin);
        const float* K = kr + row0 * ldk + g * D;
        const float* V = v + row0 * ldk + g * D;
        for (int j = 0; j < rep; j++) {
          const int h = g * rep + j;
          float* Q = qr + row0 * ldq + h * D;
          rope(q + row0 * ldq + h * D, Q, T, ldq, D, cos, sin);
          float* P = probs + ((size_t)b * s.nH + h) * T * T;
          sgemm(false, true, T, T, D, s.scale, Q, ldq, K, ldk, 0.f, P, T);
          for (int i = 0; i < T; i++) {
            float* row = P + (size_t)i * T;
            const float* keepRow = mask + (size_t)i * T;
            float m = -INFINITY;
            for (int t = 0; t < T; t++) {
              if (keepRow[t] == 0.f) row[t] = kMasked;
              m = std::max(m, row[t]);
            }
            expRow(row, m, T, row);
            float sum = 0.f;
            for (int t = 0; t < T; t++) sum += row[t];
            for (int t = 0; t < T; t++) row[t] /= sum;
          }
          sgemm(false, false, T, D, T, 1.f, P, T, V, ldk, 0.f, o + row0 * ldq + h * D, ldq);
        }
      },
      why, (double)s.B * s.nH * T * T * D > 1e6);
}

bool attentionBackward(Pool& pool, const AttentionShape& s, const float* dout, const float* qr, const float* kr,
                       const float* v, const float* probs, const float* cos, const float* sin, const float* keep,
                       float* dq, float* dk, float* dv, std::string& why) {
  const int T = s.T, D = s.D, rep = s.nH / s.nKV;
  const int ldq = s.nH * D, ldk = s.nKV * D;
  return pool.run(
      s.B * s.nKV,
      [&](int task, int thread) {
        const int b = task / s.nKV, g = task % s.nKV;
        const size_t row0 = (size_t)b * T;
        const float* mask = keep + (size_t)(s.maskBatches == 1 ? 0 : b) * T * T;
        const float* K = kr + row0 * ldk + g * D;
        const float* V = v + row0 * ldk + g * D;
        float* dK = dk + row0 * ldk + g * D;
        float* dV = dv + row0 * ldk + g * D;
        float* dS = pool.scratch(thread, (size_t)T * T);
        for (int j = 0; j < rep; j++) {
          const int h = g * rep + j;
          const float* dO = dout + row0 * ldq + h * D;
          const float* Q = qr + row0 * ldq + h * D;
          const float* P = probs + ((size_t)b * s.nH + h) * T * T;
          const float beta = j ? 1.f : 0.f;
          sgemm(true, false, T, D, T, 1.f, P, T, dO, ldq, beta, dV, ldk);  // dV += Pᵀ·dO
          sgemm(false, true, T, T, D, 1.f, dO, ldq, V, ldk, 0.f, dS, T);   // dP = dO·Vᵀ
          for (int i = 0; i < T; i++) {
            float* row = dS + (size_t)i * T;
            const float* p = P + (size_t)i * T;
            const float* keepRow = mask + (size_t)i * T;
            float dot = 0.f;
            for (int t = 0; t < T; t++) dot += row[t] * p[t];
            for (int t = 0; t < T; t++) row[t] = keepRow[t] == 0.f ? 0.f : p[t] * (row[t] - dot) * s.scale;
          }
          sgemm(false, false, T, D, T, 1.f, dS, T, K, ldk, 0.f, dq + row0 * ldq + h * D, ldq);  // dQ = dS·K
          sgemm(true, false, T, D, T, 1.f, dS, T, Q, ldq, beta, dK, ldk);                      // dK += dSᵀ·Q
          ropeBackward(dq + row0 * ldq + h * D, T, ldq, D, cos, sin);
        }
        ropeBackward(dK, T, ldk, D, cos, sin);
      },
      why, (double)s.B * s.nH * T * T * D > 1e6);
}

}  // namespace lora
