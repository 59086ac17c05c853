// Run in a child process (node --import tsx): load a model folder on wasm in a base_dtype and print what was held,
// so the parent can read this process's peak RSS (VmHWM, via hwm-exit.mjs) for loading alone.
import { initBackend } from '../../main/engine/backend/index.ts';
import { storedBytes } from '../../main/engine/llama/block-quant.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import type { BaseDtypeChoice } from '../../main/engine/llama/base-dtype-names.ts';

const [dir, mode] = process.argv.slice(2);
await initBackend('wasm', { threads: 1 });
const loaded = await loadModel(dir, { baseDtype: mode as BaseDtypeChoice });
const w = loaded.model.weights;
const matrices = [w.lmHead, ...w.layers.flatMap((l) => Object.values(l.proj))];
let held = w.embed.host ? storedBytes(w.embed.host) : 0;
for (const m of matrices) held += m.host ? storedBytes(m.host) : m.cpu ? m.cpu.storedBytes : 0;
if (w.embed.host && w.lmHead.host === w.embed.host) held -= storedBytes(w.embed.host);
console.log(JSON.stringify({ baseDtype: loaded.baseDtype, placement: loaded.placement, heldBytes: held }));
