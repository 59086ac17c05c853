// The layer table of docs/ARCHITECTURE.md as data: eslint.config.js turns it into `no-restricted-imports` rules, and
// test/studio/import-layers.test.ts holds ARCHITECTURE.md's table to it. Bottom first. A folder may import the
// folders of the tiers below its own and its own files; never a folder of its own tier (peers), never one above.
// A file belongs to the deepest folder of the table that holds it (`main/engine` is the engine's root files).
export const LAYER_TIERS = [
  ['main/engine'], // errors.ts, parse-settings.ts
  ['main/engine/fs'],
  ['main/engine/cpu-kernels'],
  ['main/engine/llama'],
  ['main/engine/formats'],
  ['main/engine/tokenizer'],
  ['main/engine/data'],
  ['main/engine/system'],
  ['main/engine/backend'],
  ['main/engine/model'],
  ['main/engine/generate', 'main/engine/export', 'main/engine/train'],
  ['main/engine/synthetic'],
  ['main/cluster'],
  ['main/contract'],
  ['main/jobs'],
  ['main/api'],
  ['main/electron', 'main/server'],
  ['main/cli'],
];

/** The renderer and the preload see main/ only through the contract. */
export const CONTRACT_ONLY = ['renderer', 'preload'];

/** Packages a folder may not import: the renderer bundle and the contract it pulls in run in a page. */
export const PAGE_SAFE = ['renderer', 'main/contract'];

/** The only folders that may import 'electron'. */
export const ELECTRON_FOLDERS = ['main/electron', 'preload'];
