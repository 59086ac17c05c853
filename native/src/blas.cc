#include "blas.h"

#include <dlfcn.h>
#include <stdlib.h>

#include <cstring>
#include <memory>

namespace lora {

static SgemmFn g_sgemm = nullptr;

namespace {

// Restores an environment variable when it goes out of scope: the settings below are for OpenBLAS's start-up in
// this process only, never for the processes this one starts later (a PyTorch reference, llama.cpp).
class EnvOverride {
 public:
  EnvOverride(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~EnvOverride() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  bool had_ = false;
  std::string old_;
};

#if defined(__x86_64__) || defined(__i386__)
bool amdWithAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_is("amd") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
#else
bool amdWithAvx512() { return false; }
#endif

}  // namespace

bool loadBlas(const std::vector<std::string>& candidates, Blas& out, std::string& why) {
  // OpenBLAS reads these once, when it loads. One thread: each of our pool's threads runs whole products.
  EnvOverride threads("OPENBLAS_NUM_THREADS", "1");
  // OpenBLAS before 0.3.22 does not know AMD's AVX-512 cores (Zen 4, Zen 5) and runs its AVX2 (Haswell) kernels
  // there; its SkylakeX kernels need only AVX-512 F/CD/BW/DQ/VL, which these cores have. A user's choice stands.
  const bool pick = getenv("OPENBLAS_CORETYPE") == nullptr && getenv("LORA_STUDIO_OPENBLAS_KEEP_CORE") == nullptr &&
                    amdWithAvx512();
  std::unique_ptr<EnvOverride> core;
  if (pick) core = std::make_unique<EnvOverride>("OPENBLAS_CORETYPE", "SkylakeX");
  why.clear();
  for (const auto& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = dlerror();
      why += (why.empty() ? "" : "; ") + std::string(e ? e : path + ": cannot be opened");
      continue;
    }
    auto sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
    if (!sgemm) {
      why += (why.empty() ? "" : "; ") + path + " has no cblas_sgemm";
      dlclose(handle);
      continue;
    }
    auto setThreads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
    if (setThreads) setThreads(1);
    auto corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
    auto config = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_config"));
    out.sgemm = sgemm;
    out.path = path;
    out.corename = corename ? corename() : "unknown";
    out.config = config ? config() : "unknown build";
    if (pick && out.corename == "SkylakeX")
      out.coreNote = "its AVX-512 (SkylakeX) kernels: this AMD CPU has AVX-512, which OpenBLAS before 0.3.22 does not detect";
    g_sgemm = sgemm;
    return true;
  }
  return false;
}

void sgemm(bool transA, bool transB, int m, int n, int k, float alpha, const float* a, int lda, const float* b, int ldb,
           float beta, float* c, int ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    // BLAS leaves C·beta; with beta 0 that must be zeros (not NaN from whatever the buffer held)
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = beta == 0.f ? 0.f : beta * c[(size_t)i * ldc + j];
    return;
  }
  g_sgemm(kRowMajor, transA ? kTrans : kNoTrans, transB ? kTrans : kNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace lora
