import type { TensorInfo, TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { isRotaryBuffer, refuseTensorsAgainstConfig, tensorPart, type TensorPart } from '../llama/tensors.ts';

/** A tensor as the checkpoint lists it (its HF name), with what the exports need to know of it. */
interface ExportTensor extends TensorInfo {
  /** Its row of the table of LLaMA tensors (llama/tensors.ts): its name in each format. */
  part: TensorPart;
  /** q/k: heads whose rows go to interleaved RoPE in GGUF and Meta's layout. */
  ropeHeads?: number;
}

/**
 * The tensors an export writes, in the checkpoint's order, after the one check of its tensors against config.json
 * that every exporter makes first (a missing tensor, a shape config.json does not imply, a tensor no LLaMA has).
 * A tied lm_head and rotary buffers are left out. `where` (the model folder) is named in the refusal.
 */
export function exportTensors(source: TensorSource, config: LlamaConfig, where?: string): ExportTensor[] {
  refuseTensorsAgainstConfig(source, config, where);
  return source
    .list()
    .filter((t) => !isRotaryBuffer(t.name) && !(t.name === 'lm_head.weight' && config.tieWordEmbeddings))
    .map((t) => {
      const { part } = tensorPart(t.name)!; // the check refused every tensor the table has no row for
      return { ...t, part, ropeHeads: part.ropeHeads?.(config) };
    });
}
