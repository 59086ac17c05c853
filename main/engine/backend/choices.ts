/** The backends a user can name; in a module of its own so the config schema can list them without loading any. */
export const BACKEND_CHOICES = ['auto', 'gpu', 'webgpu', 'webgpu-software', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];
