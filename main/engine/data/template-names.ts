/**
 * The names of Alpaca-LoRA's four built-in prompt templates (templates.ts holds their text). Node-free, so the
 * config schema, the CLI and the renderer's pickers list the same names.
 */
export const BUILTIN_TEMPLATE_NAMES = ['alpaca', 'alpaca_legacy', 'alpaca_short', 'vigogne'] as const;
export type BuiltinTemplateName = (typeof BUILTIN_TEMPLATE_NAMES)[number];

/** `generate` and the playground also accept "none": the raw instruction, no template. */
export const NO_TEMPLATE = 'none';
