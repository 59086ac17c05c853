// Bindings of the fused ops of a decoder layer (attention with RoPE, RMSNorm, SwiGLU): see attention.h and
// elementwise.h. The TypeScript side (backend/cpu-fused.ts) allocates every output and keeps what the backward reads.
#include "attention.h"
#include "elementwise.h"
#include "napi-args.h"

namespace lora {

namespace {

#define POOL                 \
  Pool* pl = pool(env);      \
  if (!pl) return env.Undefined(); \
  std::string why;
#define RUN(call) \
  if (!(call)) return fail(env, why); \
  return env.Undefined();

// rmsNormForward(x, w, n, h, eps, y, rstd)
Napi::Value RmsNormForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int n = intArg(info, 2), h = intArg(info, 3);
  float *x, *w, *y, *rstd;
  F32(0, (size_t)n * h, x, "rmsNorm: x");
  F32(1, h, w, "rmsNorm: w");
  F32(5, (size_t)n * h, y, "rmsNorm: y");
  F32(6, n, rstd, "rmsNorm: rstd");
  POOL;
  RUN(rmsNormForward(*pl, x, w, n, h, floatArg(info, 4), y, rstd, why));
}

// rmsNormBackward(x, w, rstd, dy, n, h, dx)
Napi::Value RmsNormBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int n = intArg(info, 4), h = intArg(info, 5);
  float *x, *w, *rstd, *dy, *dx;
  F32(0, (size_t)n * h, x, "rmsNormBackward: x");
  F32(1, h, w, "rmsNormBackward: w");
  F32(2, n, rstd, "rmsNormBackward: rstd");
  F32(3, (size_t)n * h, dy, "rmsNormBackward: dy");
  F32(6, (size_t)n * h, dx, "rmsNormBackward: dx");
  POOL;
  RUN(rmsNormBackward(*pl, x, w, rstd, dy, n, h, dx, why));
}

// swigluForward(g, u, count, y)
Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t count = (size_t)info[2].As<Napi::Number>().Int64Value();
  float *g, *u, *y;
  F32(0, count, g, "swiglu: gate");
  F32(1, count, u, "swiglu: up");
  F32(3, count, y, "swiglu: y");
  POOL;
  RUN(swigluForward(*pl, g, u, count, y, why));
}

// swigluBackward(g, u, dy, count, dg, du)
Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const size_t count = (size_t)info[3].As<Napi::Number>().Int64Value();
  float *g, *u, *dy, *dg, *du;
  F32(0, count, g, "swigluBackward: gate");
  F32(1, count, u, "swigluBackward: up");
  F32(2, count, dy, "swigluBackward: dy");
  F32(4, count, dg, "swigluBackward: dgate");
  F32(5, count, du, "swigluBackward: dup");
  POOL;
  RUN(swigluBackward(*pl, g, u, dy, count, dg, du, why));
}

// The attention's shape from [B, T, nH, nKV, D, maskBatches] and the scale; false (thrown) when inconsistent.
bool shapeArg(const Napi::CallbackInfo& info, AttentionShape& s) {
  Napi::Array a = info[0].As<Napi::Array>();
  int v[6];
  for (uint32_t i = 0; i < 6; i++) v[i] = a.Get(i).As<Napi::Number>().Int32Value();
  s = {v[0], v[1], v[2], v[3], v[4], v[5], floatArg(info, 1)};
  if (s.B < 1 || s.T < 1 || s.nKV < 1 || s.nH % s.nKV || s.D < 2 || s.D % 2 || (s.maskBatches != 1 && s.maskBatches != s.B)) {
    fail(info.Env(), "attention: inconsistent shape");
    return false;
  }
  return true;
}

// attentionForward(shape, scale, q, k, v, cos, sin, keep, o, qr, kr, probs)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttentionShape s;
  if (!shapeArg(info, s)) return env.Undefined();
  const size_t N = (size_t)s.B * s.T, qn = N * s.nH * s.D, kn = N * s.nKV * s.D, tt = (size_t)s.T * s.T;
  float *q, *k, *v, *cos, *sin, *keep, *o, *qr, *kr, *probs;
  F32(2, qn, q, "attention: q");
  F32(3, kn, k, "attention: k");
  F32(4, kn, v, "attention: v");
  F32(5, (size_t)s.T * s.D, cos, "attention: cos");
  F32(6, (size_t)s.T * s.D, sin, "attention: sin");
  F32(7, s.maskBatches * tt, keep, "attention: keep");
  F32(8, qn, o, "attention: o");
  F32(9, qn, qr, "attention: qr");
  F32(10, kn, kr, "attention: kr");
  F32(11, (size_t)s.B * s.nH * tt, probs, "attention: probs");
  POOL;
  RUN(attentionForward(*pl, s, q, k, v, cos, sin, keep, o, qr, kr, probs, why));
}

// attentionBackward(shape, scale, dout, qr, kr, v, probs, cos, sin, keep, dq, dk, dv)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttentionShape s;
  if (!shapeArg(info, s)) return env.Undefined();
  const size_t N = (size_t)s.B * s.T, qn = N * s.nH * s.D, kn = N * s.nKV * s.D, tt = (size_t)s.T * s.T;
  float *dout, *qr, *kr, *v, *probs, *cos, *sin, *keep, *dq, *dk, *dv;
  F32(2, qn, dout, "attentionBackward: dout");
  F32(3, qn, qr, "attentionBackward: qr");
  F32(4, kn, kr, "attentionBackward: kr");
  F32(5, kn, v, "attentionBackward: v");
  F32(6, (size_t)s.B * s.nH * tt, probs, "attentionBackward: probs");
  F32(7, (size_t)s.T * s.D, cos, "attentionBackward: cos");
  F32(8, (size_t)s.T * s.D, sin, "attentionBackward: sin");
  F32(9, s.maskBatches * tt, keep, "attentionBackward: keep");
  F32(10, qn, dq, "attentionBackward: dq");
  F32(11, kn, dk, "attentionBackward: dk");
  F32(12, kn, dv, "attentionBackward: dv");
  POOL;
  RUN(attentionBackward(*pl, s, dout, qr, kr, v, probs, cos, sin, keep, dq, dk, dv, why));
}

}  // namespace

void registerFused(Napi::Env env, Napi::Object exports) {
  exports.Set("rmsNormForward", Napi::Function::New(env, RmsNormForward));
  exports.Set("rmsNormBackward", Napi::Function::New(env, RmsNormBackward));
  exports.Set("swigluForward", Napi::Function::New(env, SwigluForward));
  exports.Set("swigluBackward", Napi::Function::New(env, SwigluBackward));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
}

}  // namespace lora
