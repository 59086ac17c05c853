// A frozen matrix W [rows, cols] as the studio stores it (llama/block-quant.ts): f32 values, f16/bf16 bits, int8
// codes or NF4 codes (two a byte, low nibble first), with one f32 scale per kQuantBlock values of the flattened
// matrix for int8 and NF4. The bytes are copied here as they are; nothing is widened.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lora {

// The order of GEMM_MODES in cpu-kernels/gemm-wat.ts (the addon's callers pass the index).
enum Mode : int { kF32 = 0, kBF16 = 1, kF16 = 2, kInt8 = 3, kNF4 = 4 };
constexpr int kModes = 5;
constexpr int kQuantBlock = 64;

struct Matrix {
  int rows = 0;
  int cols = 0;
  Mode mode = kF32;
  void* data = nullptr;
  float* scales = nullptr;
  size_t dataBytes = 0;
  size_t scaleBytes = 0;
};

// NF4's code book (16 levels), set once when the kernels open.
void setNf4Levels(const float* levels);

// out[i] = W_flat[start + i] for i < len, decoded from the stored form.
void decodeRun(const Matrix& m, size_t start, int len, float* out);

// Σ W_flat[start + i] · x[i] for i < len, W decoded in registers (a matrix-vector product's row).
float dotRun(const Matrix& m, size_t start, int len, const float* x);

}  // namespace lora
