// The kit's stand-in for the `webgpu` package: the bundle loads dawn.node from its own folder (the package's index.js
// looks beside itself, in node_modules), and every GPU it creates gets the Dawn toggles the kit needs:
// allow_unsafe_apis for chromium-experimental-subgroup-matrix, vulkan_enable_f16_on_nvidia for shader-f16 on NVIDIA.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const KIT_DAWN_TOGGLES = ['allow_unsafe_apis', 'vulkan_enable_f16_on_nvidia'];

const require = createRequire(import.meta.url);
const file = process.env.LORA_STUDIO_DAWN_NODE ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'dawn.node');
const dawn = require(file) as { create(options: string[]): GPU; globals: Record<string, unknown> };

/** Dawn's options with the kit's toggles merged into one `enable-dawn-features=` entry (Dawn keeps only one). */
export function withKitToggles(options: string[]): string[] {
  const key = 'enable-dawn-features=';
  const given = options.filter((o) => o.startsWith(key)).flatMap((o) => o.slice(key.length).split(','));
  const rest = options.filter((o) => !o.startsWith(key));
  return [...rest, key + [...new Set([...given, ...KIT_DAWN_TOGGLES])].filter(Boolean).join(',')];
}

export const globals = dawn.globals;
export function create(options: string[]): GPU {
  return dawn.create(withKitToggles(options));
}
