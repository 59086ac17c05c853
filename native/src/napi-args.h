// Argument helpers shared by the addon's bindings: typed arrays checked against the values a call needs, so a
// wrong call from JS throws instead of reading or writing out of bounds.
#pragma once
#include <napi.h>

#include <string>

#include "pool.h"

namespace lora {

inline Napi::Value fail(const Napi::Env& env, const std::string& message) {
  Napi::Error::New(env, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

// The pointer and length (in elements of T) of a typed array argument, checked against the elements a call needs.
template <typename T>
inline bool arrayArg(const Napi::CallbackInfo& info, size_t index, size_t need, T*& out, const char* name,
                     napi_typedarray_type type) {
  if (index >= info.Length() || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != type) {
    fail(info.Env(), std::string(name) + ": expected a typed array of another type");
    return false;
  }
  Napi::TypedArrayOf<T> a = info[index].As<Napi::TypedArrayOf<T>>();
  if (a.ElementLength() < need) {
    fail(info.Env(), std::string(name) + ": " + std::to_string(a.ElementLength()) + " values, need " + std::to_string(need));
    return false;
  }
  out = a.Data();
  return true;
}
#define F32(i, need, ptr, name) \
  if (!arrayArg<float>(info, i, need, ptr, name, napi_float32_array)) return env.Undefined();
#define F64(i, need, ptr, name) \
  if (!arrayArg<double>(info, i, need, ptr, name, napi_float64_array)) return env.Undefined();
#define I32(i, need, ptr, name) \
  if (!arrayArg<int32_t>(info, i, need, ptr, name, napi_int32_array)) return env.Undefined();

inline int intArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().Int32Value(); }
inline float floatArg(const Napi::CallbackInfo& info, size_t i) { return info[i].As<Napi::Number>().FloatValue(); }

// The process's pool (addon.cc); throws and returns null when the kernels are not open.
Pool* pool(const Napi::Env& env);

// The fused ops' bindings (addon-fused.cc).
void registerFused(Napi::Env env, Napi::Object exports);

}  // namespace lora
