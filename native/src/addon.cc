// The Node-API face of the native CPU kernels (lora_studio_cpu.node). Every call is synchronous, as a tfjs kernel
// must be, and reads and writes the typed arrays it is given (tfjs-wasm's heap among them) in place. Errors are
// thrown as JS Errors with the reason; the TypeScript side (cpu-kernels/native-kernels.ts) wraps them.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "attention.h"
#include "blas.h"
#include "elementwise.h"
#include "gemm.h"
#include "matrix.h"
#include "napi-args.h"
#include "pool.h"

namespace lora {

static std::unique_ptr<Pool> g_pool;

Pool* pool(const Napi::Env& env) {
  if (!g_pool) fail(env, "the native CPU kernels are not open");
  return g_pool.get();
}

}  // namespace lora

namespace {

using namespace lora;

Blas g_blas;


bool cpuRunsKernels(std::string& why) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return true;
  why = "this CPU lacks AVX2, FMA or F16C, which the native kernels are built for";
  return false;
#else
  return true;
#endif
}

// The interface version the TypeScript side checks (cpu-kernels/native-addon.ts's NATIVE_API_VERSION): a build
// older than the code is refused with the reason, not called with arguments it does not know.
constexpr int kApiVersion = 1;

// init({ blas: string[], quantBlock, panel?: [pc, kc] }) → what was loaded; throws the reason
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  std::string why;
  if (!cpuRunsKernels(why)) return fail(env, why);
  if (o.Get("quantBlock").As<Napi::Number>().Int32Value() != kQuantBlock)
    return fail(env, "the addon was built for another quantization block size: rebuild it (npm run build:native)");
  if (!g_blas.sgemm) {
    std::vector<std::string> candidates;
    Napi::Array list = o.Get("blas").As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) candidates.push_back(list.Get(i).As<Napi::String>().Utf8Value());
    if (!loadBlas(candidates, g_blas, why)) return fail(env, "OpenBLAS could not be loaded: " + why);
  }
  if (o.Has("panel")) {
    Napi::Array p = o.Get("panel").As<Napi::Array>();
    setPanels(p.Get(0u).As<Napi::Number>().Int32Value(), p.Get(1u).As<Napi::Number>().Int32Value());
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("blasPath", g_blas.path);
  r.Set("corename", g_blas.corename);
  r.Set("config", g_blas.config);
  r.Set("coreNote", g_blas.coreNote);
  return r;
}

// open({ threads, hangMs, simulateHang, nf4: Float32Array }) → the pool's thread count (init first)
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_blas.sgemm) return fail(env, "open: init first");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Float32Array nf4 = o.Get("nf4").As<Napi::Float32Array>();
  if (nf4.ElementLength() != 16) return fail(env, "nf4: expected 16 levels");
  setNf4Levels(nf4.Data());
  if (g_pool) g_pool->close();
  g_pool.reset();
  g_pool = std::make_unique<Pool>(o.Get("threads").As<Napi::Number>().Int32Value(),
                                  o.Get("hangMs").As<Napi::Number>().Int32Value(),
                                  o.Get("simulateHang").As<Napi::Number>().Int32Value());
  return Napi::Number::New(env, g_pool->threads());
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  if (g_pool) g_pool->close();
  g_pool.reset();
  return info.Env().Undefined();
}

struct Held {
  Matrix m;
  bool released = false;
  void free() {
    if (released) return;
    released = true;
    std::free(m.data);
    std::free(m.scales);
  }
};

void* copyAligned(const void* src, size_t bytes) {
  void* p = aligned_alloc(64, ((bytes + 63) / 64) * 64 + 64);
  if (p && bytes) memcpy(p, src, bytes);
  return p;
}

// upload(mode, rows, cols, data: TypedArray, scales?: Float32Array) → a handle owning a copy of the stored bytes
Napi::Value Upload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int mode = intArg(info, 0);
  if (mode < 0 || mode >= kModes) return fail(env, "upload: unknown mode");
  auto held = new Held();
  Matrix& m = held->m;
  m.mode = static_cast<Mode>(mode);
  m.rows = intArg(info, 1);
  m.cols = intArg(info, 2);
  const size_t count = (size_t)m.rows * m.cols;
  const size_t need = m.mode == kF32 ? 4 * count : m.mode == kInt8 ? count : m.mode == kNF4 ? (count + 1) / 2 : 2 * count;
  Napi::TypedArray data = info[3].As<Napi::TypedArray>();
  if (data.ByteLength() < need) {
    delete held;
    return fail(env, "upload: " + std::to_string(data.ByteLength()) + " bytes of values, need " + std::to_string(need));
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  m.dataBytes = data.ByteLength();
  m.data = copyAligned(bytes, m.dataBytes);
  if (m.mode == kInt8 || m.mode == kNF4) {
    Napi::Float32Array scales = info[4].As<Napi::Float32Array>();
    const size_t blocks = (count + kQuantBlock - 1) / kQuantBlock;
    if (scales.ElementLength() < blocks) {
      held->free();
      delete held;
      return fail(env, "upload: too few block scales");
    }
    m.scaleBytes = 4 * blocks;
    m.scales = static_cast<float*>(copyAligned(scales.Data(), m.scaleBytes));
  }
  if (!m.data || (m.scaleBytes && !m.scales)) {
    held->free();
    delete held;
    return fail(env, "upload: out of memory");
  }
  const int64_t bytesHeld = (int64_t)(m.dataBytes + m.scaleBytes);
  Napi::MemoryManagement::AdjustExternalMemory(env, bytesHeld);
  return Napi::External<Held>::New(env, held, [bytesHeld](Napi::Env e, Held* h) {
    if (!h->released) Napi::MemoryManagement::AdjustExternalMemory(e, -bytesHeld);
    h->free();
    delete h;
  });
}

Held* heldArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::External<Held>>().Data(); }

Napi::Value Release(const Napi::CallbackInfo& info) {
  Held* h = heldArg(info, 0);
  if (!h->released) Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -(int64_t)(h->m.dataBytes + h->m.scaleBytes));
  h->free();
  return info.Env().Undefined();
}

// product(handle, forward, a, n, c): x·Wᵀ (forward) or dy·W
Napi::Value Product(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Held* h = heldArg(info, 0);
  if (h->released) return fail(env, "product: the matrix was released");
  const bool forward = info[1].As<Napi::Boolean>().Value();
  const int n = intArg(info, 3);
  const size_t r = forward ? h->m.cols : h->m.rows, p = forward ? h->m.rows : h->m.cols;
  float *a, *c;
  F32(2, n * r, a, "product: a");
  F32(4, n * p, c, "product: c");
  Pool* pl = pool(env);
  if (!pl) return env.Undefined();
  std::string why;
  if (!product(*pl, h->m, forward, a, n, c, why)) return fail(env, why);
  return env.Undefined();
}

// sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) on the pool
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool ta = info[0].As<Napi::Boolean>().Value(), tb = info[1].As<Napi::Boolean>().Value();
  const int m = intArg(info, 2), n = intArg(info, 3), k = intArg(info, 4);
  const float alpha = floatArg(info, 5), beta = floatArg(info, 10);
  const int lda = intArg(info, 7), ldb = intArg(info, 9), ldc = intArg(info, 12);
  float *a, *b, *c;
  F32(6, (size_t)(ta ? k : m) * lda, a, "sgemm: a");
  F32(8, (size_t)(tb ? n : k) * ldb, b, "sgemm: b");
  F32(11, (size_t)m * ldc, c, "sgemm: c");
  Pool* pl = pool(env);
  if (!pl) return env.Undefined();
  std::string why;
  if (!parallelSgemm(*pl, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, why)) return fail(env, why);
  return env.Undefined();
}

// rowMaxSumExp(x, n, v, max: Float64Array, sum: Float64Array)
Napi::Value RowMaxSumExp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int n = intArg(info, 1), v = intArg(info, 2);
  float* x;
  double *mx, *sm;
  F32(0, (size_t)n * v, x, "rowMaxSumExp: x");
  F64(3, n, mx, "rowMaxSumExp: max");
  F64(4, n, sm, "rowMaxSumExp: sum");
  Pool* pl = pool(env);
  if (!pl) return env.Undefined();
  std::string why;
  if (!rowMaxSumExp(*pl, x, n, v, mx, sm, why)) return fail(env, why);
  return env.Undefined();
}

// softmaxGrad(x, n, v, lse: Float64Array, coef: Float32Array, targets: Int32Array, out)
Napi::Value SoftmaxGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int n = intArg(info, 1), v = intArg(info, 2);
  float *x, *coef, *out;
  double* lse;
  int32_t* targets;
  F32(0, (size_t)n * v, x, "softmaxGrad: x");
  F64(3, n, lse, "softmaxGrad: lse");
  F32(4, n, coef, "softmaxGrad: coef");
  I32(5, n, targets, "softmaxGrad: targets");
  F32(6, (size_t)n * v, out, "softmaxGrad: out");
  Pool* pl = pool(env);
  if (!pl) return env.Undefined();
  std::string why;
  if (!softmaxGrad(*pl, x, n, v, lse, coef, targets, out, why)) return fail(env, why);
  return env.Undefined();
}

Napi::Object Register(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::Number::New(env, kApiVersion));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("product", Napi::Function::New(env, Product));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("rowMaxSumExp", Napi::Function::New(env, RowMaxSumExp));
  exports.Set("softmaxGrad", Napi::Function::New(env, SoftmaxGrad));
  registerFused(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lora_studio_cpu, Register)
