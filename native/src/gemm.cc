#include "gemm.h"

#include <algorithm>

#include "blas.h"

namespace lora {

namespace {

int g_pc = 256;   // columns of C a task computes
int g_kc = 512;   // reduction length of one decoded block
constexpr int kGemvRows = 64;
// Products under this many multiply-adds run on the calling thread alone: waking a worker costs more.
constexpr double kParallelMacs = 2e6;

int ceilDiv(int a, int b) { return (a + b - 1) / b; }

// Rows of A a task takes: all of them, unless C has too few panels to keep the threads busy (small models).
int rowChunk(int n, int panels) {
  if (panels >= 4 || n < 128) return n;
  int chunks = std::min(ceilDiv(n, 64), ceilDiv(8, panels));
  return ceilDiv(ceilDiv(n, chunks), 16) * 16;
}

}  // namespace

void setPanels(int pc, int kc) {
  if (pc >= 16) g_pc = pc;
  if (kc >= 16) g_kc = kc;
}

bool product(Pool& pool, const Matrix& m, bool forward, const float* a, int n, float* c, std::string& why) {
  const int r = forward ? m.cols : m.rows;  // reduction
  const int p = forward ? m.rows : m.cols;  // columns of C
  const size_t cols = (size_t)m.cols;
  const bool parallel = (double)n * r * p > kParallelMacs;
  if (forward && n <= 2) {
    // matrix-vector: each row of W decoded in registers and dotted with each row of x
    return pool.run(
        ceilDiv(p, kGemvRows),
        [&](int task, int) {
          const int j0 = task * kGemvRows, j1 = std::min(p, j0 + kGemvRows);
          for (int j = j0; j < j1; j++)
            for (int i = 0; i < n; i++) c[(size_t)i * p + j] = dotRun(m, (size_t)j * cols, r, a + (size_t)i * r);
        },
        why, parallel);
  }
  const int pc = g_pc;
  const int panels = ceilDiv(p, pc);
  const int mc = m.mode == kF32 ? rowChunk(n, panels) : n;  // a quantized panel is decoded once for all rows
  const int chunks = ceilDiv(n, mc);
  return pool.run(
      panels * chunks,
      [&](int task, int thread) {
        const int p0 = (task / chunks) * pc, w = std::min(pc, p - p0);
        const int i0 = (task % chunks) * mc, rows = std::min(mc, n - i0);
        const float* ai = a + (size_t)i0 * r;
        float* ci = c + (size_t)i0 * p + p0;
        if (m.mode == kF32) {
          const float* W = static_cast<const float*>(m.data);
          if (forward)
            sgemm(false, true, rows, w, r, 1.f, ai, r, W + (size_t)p0 * cols, (int)cols, 0.f, ci, p);
          else
            sgemm(false, false, rows, w, r, 1.f, ai, r, W + p0, (int)cols, 0.f, ci, p);
          return;
        }
        const int kc = g_kc;
        float* block = pool.scratch(thread, (size_t)kc * w);
        for (int k0 = 0; k0 < r; k0 += kc) {
          const int k = std::min(kc, r - k0);
          if (forward) {
            // block [w, k]: rows p0… of W, reduction columns k0…
            for (int j = 0; j < w; j++) decodeRun(m, (size_t)(p0 + j) * cols + k0, k, block + (size_t)j * k);
            sgemm(false, true, rows, w, k, 1.f, ai + k0, r, block, k, k0 ? 1.f : 0.f, ci, p);
          } else {
            // block [k, w]: reduction rows k0… of W, columns p0…
            for (int kk = 0; kk < k; kk++) decodeRun(m, (size_t)(k0 + kk) * cols + p0, w, block + (size_t)kk * w);
            sgemm(false, false, rows, w, k, 1.f, ai + k0, r, block, w, k0 ? 1.f : 0.f, ci, p);
          }
        }
      },
      why, parallel);
}

bool parallelSgemm(Pool& pool, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc, std::string& why) {
  const int pc = g_pc;
  const int panels = ceilDiv(n, pc);
  const int mc = rowChunk(m, panels);
  const int chunks = ceilDiv(m, mc);
  return pool.run(
      panels * chunks,
      [&](int task, int) {
        const int p0 = (task / chunks) * pc, w = std::min(pc, n - p0);
        const int i0 = (task % chunks) * mc, rows = std::min(mc, m - i0);
        const float* ai = transA ? a + i0 : a + (size_t)i0 * lda;
        const float* bj = transB ? b + (size_t)p0 * ldb : b + p0;
        sgemm(transA, transB, rows, w, k, alpha, ai, lda, bj, ldb, beta, c + (size_t)i0 * ldc + p0, ldc);
      },
      why, (double)m * n * k > kParallelMacs);
}

}  // namespace lora
