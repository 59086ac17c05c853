import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { checkpointBaseDtype, headDtype } from '../../main/engine/llama/base-dtype.ts';
import { dequantizeRows, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { type BaseDtype } from '../../main/engine/llama/base-dtype-names.ts';

/**
 * An f32 copy of a model folder whose frozen matrices hold exactly the values a base_dtype mode stores (projections
 * in the mode, embeddings and lm_head in their 16-bit form, norms untouched): what a reference (PyTorch) computes with
 * to check our training over a quantized base.
 */
export async function writeDequantizedModel(modelDir: string, outDir: string, mode: BaseDtype): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  copyFileSync(path.join(modelDir, 'config.json'), path.join(outDir, 'config.json'));
  const source = await openCheckpoint(modelDir);
  const head = headDtype(mode, checkpointBaseDtype(source, modelDir));
  const tensors = [];
  for (const t of source.list()) {
    let values = await source.readF32(t.name);
    if (t.shape.length === 2) {
      const dtype = /embed_tokens|lm_head/.test(t.name) ? head : mode;
      values = dequantizeRows(storeMatrix(values, t.shape[0], t.shape[1], dtype));
    }
    tensors.push({
      name: t.name,
      dtype: 'F32' as const,
      shape: t.shape,
      data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
  }
  await source.close();
  await writeSafetensors(path.join(outDir, 'model.safetensors'), tensors);
}
