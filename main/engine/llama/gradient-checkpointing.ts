import type { BaseDtype } from './base-dtype-names.ts';
import type { FrozenPlacement } from './frozen-placement.ts';

// Whether a training run recomputes each layer in the backward pass (checkpoint.ts). No tfjs here: the memory
// estimate and the wizard decide with it too.

/**
 * The user's choice, or auto (undefined): on for an int8 or nf4 base, as PEFT's prepare_model_for_kbit_training
 * turns it on for Alpaca-LoRA's load_in_8bit and for QLoRA, and for a base held on the host (a large model on
 * wasm/cpu, where the activations of every layer would not fit the heap beside one dequantized matrix). Otherwise off:
 * a small model's step stays one forward and one backward.
 */
export function useGradientCheckpointing(asked: boolean | undefined, mode: BaseDtype, placement: FrozenPlacement): boolean {
  if (asked !== undefined) return asked;
  return mode === 'int8' || mode === 'nf4' || placement === 'host';
}
