// The CPU-side elementwise work of a training step, fused: one pass per op and direction instead of the half-dozen
// tfjs ops (each reading and writing whole tensors) they replace. Rows are split over the pool.
#pragma once
#include <cstdint>
#include <string>

#include "pool.h"

namespace lora {

// Cross-entropy over logits x [n, v]: per row max and Σ exp(x − max) (f64).
bool rowMaxSumExp(Pool& pool, const float* x, int n, int v, double* max, double* sum, std::string& why);
// (softmax(x) − onehot(target)) · coef per row, with lse = log Σ exp(x).
bool softmaxGrad(Pool& pool, const float* x, int n, int v, const double* lse, const float* coef, const int32_t* targets,
                 float* out, std::string& why);

// RMSNorm y = x · rsqrt(mean(x²) + eps) · w over rows of h values; rstd gets each row's rsqrt (for the backward).
bool rmsNormForward(Pool& pool, const float* x, const float* w, int n, int h, float eps, float* y, float* rstd,
                    std::string& why);
// dx of RMSNorm (w frozen): rstd·(w∘dy) − x·rstd³·Σ(w∘dy∘x)/h.
bool rmsNormBackward(Pool& pool, const float* x, const float* w, const float* rstd, const float* dy, int n, int h,
                     float* dx, std::string& why);

// SwiGLU y = silu(g)·u over `count` values, and its gradients.
bool swigluForward(Pool& pool, const float* g, const float* u, size_t count, float* y, std::string& why);
bool swigluBackward(Pool& pool, const float* g, const float* u, const float* dy, size_t count, float* dg, float* du,
                    std::string& why);

// exp over a row (AVX2 polynomial, |error| ≤ 2 ulp; 0 below −87.3, as expf underflows).
void expRow(const float* x, float shift, int count, float* out);

}  // namespace lora
