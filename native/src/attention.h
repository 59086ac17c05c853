// Causal grouped-query attention with RoPE, forward and backward, in one call each: the projections' outputs go in
// as they come ([B·T, heads·D], token-major), the output comes out merged for o_proj, and each (batch, KV head) is a
// task of sgemm calls reading the heads in place (leading dimensions, no transposes). Query head h = g·rep + j
// shares KV head g, as the tfjs path (model/llama.ts) groups them.
#pragma once
#include <string>

#include "pool.h"

namespace lora {

struct AttentionShape {
  int B, T, nH, nKV, D;
  int maskBatches;  // 1: one [T, T] mask for every sequence; B: one each
  float scale;      // 1/√D
};

// q [B·T, nH·D], k and v [B·T, nKV·D] (k and q before RoPE); cos and sin [T, D] (rotate-half layout);
// keep [maskBatches, T, T] (1 where a query sees a key). Writes o [B·T, nH·D], the rotated qr and kr (same shapes as
// q and k) and probs [B, nH, T, T], which the backward reads.
bool attentionForward(Pool& pool, const AttentionShape& s, const float* q, const float* k, const float* v,
                      const float* cos, const float* sin, const float* keep, float* o, float* qr, float* kr,
                      float* probs, std::string& why);

// From dout [B·T, nH·D] and the forward's qr, kr, v, probs: dq [B·T, nH·D], dk and dv [B·T, nKV·D] (dq and dk
// with RoPE undone: the gradients of the projections' outputs).
bool attentionBackward(Pool& pool, const AttentionShape& s, const float* dout, const float* qr, const float* kr,
                       const float* v, const float* probs, const float* cos, const float* sin, const float* keep,
                       float* dq, float* dk, float* dv, std::string& why);

}  // namespace lora
