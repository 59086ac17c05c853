// Where a frozen base's matrices live, decided in one place. No tfjs here (the memory estimate uses it too).

/**
 * `device`: tensors in the backend's memory (resident f32 W and Wᵀ, or packed halves on WebGPU);
 * `host`: stored in JS memory in their mode and dequantized just in time (wasm, cpu and tfjs-node only).
 */
export type FrozenPlacement = 'device' | 'host';

/**
 * Resident f32 W and Wᵀ up to this many bytes for the whole base: a small model's matmuls then skip the per-call
 * dequantization, and the wasm heap stays far below its 4 GiB with room for activations.
 */
const RESIDENT_F32_LIMIT_BYTES = 2 ** 30;

/**
 * A host-held matrix is dequantized at most this many bytes (f32) at a time: a larger one (a 7B's lm_head is 500 MiB
 * in f32, its MLP matrices 172 MiB) is multiplied in row pieces, so the transient piece in the heap and the JS
 * buffer it is dequantized into stay small (frozen-matrix.ts's jitMatMul).
 */
export const JIT_PIECE_BYTES = 64 * 2 ** 20;

/**
 * Set to `host` to hold even a small base on the host (tests and benchmarks exercise the just-in-time path on small
 * models with it); `device` keeps a large one resident (it may then not fit).
 */
export const PLACEMENT_ENV = 'LORA_STUDIO_FROZEN_PLACEMENT';

/** WebGPU keeps frozen matrices on the device; elsewhere a small base stays resident and a large one on the host. */
export function choosePlacement(backendName: string, frozenParams: number): FrozenPlacement {
  if (backendName === 'webgpu') return 'device';
  const forced = process.env[PLACEMENT_ENV];
  if (forced === 'host' || forced === 'device') return forced;
  return 8 * frozenParams <= RESIDENT_F32_LIMIT_BYTES ? 'device' : 'host';
}
