// The products of a frozen matrix W [rows, cols]: x·Wᵀ (forward: a = x [n, cols] → c [n, rows]) and dy·W (backward:
// a = dy [n, rows] → c [n, cols]). f32 W goes to OpenBLAS's sgemm as it is; the other modes are decoded a panel at a
// time into a cache-sized f32 block that feeds sgemm, so no f32 copy of the whole matrix is ever made. One row of x
// (decode) takes a matrix-vector product that decodes W in registers.
#pragma once
#include <string>

#include "matrix.h"
#include "pool.h"

namespace lora {

bool product(Pool& pool, const Matrix& m, bool forward, const float* a, int n, float* c, std::string& why);

// Panel sizes (columns of C per task, and the reduction per decoded block): overridable for tuning
// (LORA_STUDIO_NATIVE_PANEL=PC,KC), fixed per process so the split never depends on the thread count.
void setPanels(int pc, int kc);

// C = A·B on the pool, split into panels of C's columns: a general f32 product for the rest of the model.
bool parallelSgemm(Pool& pool, bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc, std::string& why);

}  // namespace lora
