// OpenBLAS, found at run time (dlopen): no -dev package or link-time dependency, so the addon builds where only the
// runtime library is installed, and says why when it cannot find one. Only the few CBLAS calls we use are declared.
#pragma once
#include <string>
#include <vector>

namespace lora {

enum : int { kRowMajor = 101, kNoTrans = 111, kTrans = 112 };

using SgemmFn = void (*)(int order, int transA, int transB, int m, int n, int k, float alpha, const float* a, int lda,
                         const float* b, int ldb, float beta, float* c, int ldc);

struct Blas {
  SgemmFn sgemm = nullptr;
  std::string path;      // the file that was loaded
  std::string corename;  // the kernel set OpenBLAS runs (openblas_get_corename)
  std::string config;    // its build (openblas_get_config)
  std::string coreNote;  // why a kernel set was chosen for it, if we chose
};

// Load the first of `candidates` that opens and has cblas_sgemm, with OpenBLAS's own threads off (our pool calls it
// from its threads, one product each). False with the reason (every candidate's error) otherwise.
bool loadBlas(const std::vector<std::string>& candidates, Blas& out, std::string& why);

// C = A·B (or with transposes), row-major, through the loaded library.
void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc);

}  // namespace lora
