// No imports: the settings schema (and through it the API contract and the renderer) lists these names.

/** The seven projection modules of a LLaMA block, by their HF names (also LoRA's target names). */
export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];
