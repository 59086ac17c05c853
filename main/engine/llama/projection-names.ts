// Node-free: the settings schema (and through it the API contract and the renderer) lists these names.
import { z } from 'zod';

/** The seven projection modules of a LLaMA block, by their HF names (also LoRA's target names). */
export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];
/** LoRA target names as the config, the contract and the forms check them. */
export const projectionNameSchema = z.enum(PROJECTIONS);

/** The names in `names` that are not LLaMA projections (in order); empty when every one is. */
export function unknownProjections(names: readonly string[]): string[] {
  return names.filter((n) => !(PROJECTIONS as readonly string[]).includes(n));
}
