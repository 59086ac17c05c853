import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Prng } from '../../main/engine/data/prng.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { paddedTestBatch } from '../../test/helpers/batches.ts';

const R = 4;

export interface CheckResult {
  loss_ours: number;
  loss_torch: number;
  /** max |ours − torch| / max |torch| over all logits, and over each LoRA gradient (the worst module). */
  logits_rel_diff: number;
  grads_rel_diff: number;
  worst_grad: string;
  tolerance: number;
  base: string;
  pass: boolean;
}

/**
 * Logits and LoRA gradients of our backend (already initialised) against test/reference/torch_llama_lora.py on the
 * same F32 weights, the same LoRA A and B (B non-zero, so every A gets a gradient) and a padded batch.
 */
export async function checkAgainstTorch(modelDir: string, reference: string, python: string, tolerance: number, base: 'f32' | 'f16' = 'f32'): Promise<CheckResult> {
  // The base named, whatever auto would pick (f16 rounds the reference's f32 weights: a looser tolerance).
  const { model, config } = await loadModel(modelDir, { baseDtype: base });
  const prng = new Prng(3);
  const adapter = new LoraAdapter(config, { r: R, alpha: 8, dropout: 0, targetModules: [...PROJECTIONS], useRslora: false }, (_l, _n, inF, outF) => ({
    a: Float32Array.from({ length: R * inF }, () => (prng.next() - 0.5) * 0.2),
    b: Float32Array.from({ length: outF * R }, () => (prng.next() - 0.5) * 0.02),
  }));
  const mb = paddedTestBatch(prng);
  const { loss, grads } = await microBatchGradients(model, adapter, mb, labelledCount(mb));
  const logits = model.forward(tf.tensor2d(mb.inputIds, [mb.batchSize, mb.seqLen], 'int32'), {
    attentionMask: tf.tensor2d(mb.attentionMask, [mb.batchSize, mb.seqLen], 'int32'),
    projection: adapter.projection({ training: false }),
  });
  const oursLogits = (await logits.data()) as Float32Array;

  const rows = (a: Int32Array) => Array.from({ length: mb.batchSize }, (_, b) => [...a.slice(b * mb.seqLen, (b + 1) * mb.seqLen)]);
  const peft = await adapter.exportPeft();
  const dir = mkdtempSync(path.join(tmpdir(), 'lora-studio-kit-check-'));
  const spec = {
    model_dir: modelDir,
    want_logits: true,
    input_ids: rows(mb.inputIds),
    labels: rows(mb.labels),
    attention_mask: rows(mb.attentionMask),
    lora: { r: R, alpha: 8, modules: Object.fromEntries(peft.map((p) => [p.key, { a: [...p.a], b: [...p.b] }])) },
  };
  writeFileSync(path.join(dir, 'in.json'), JSON.stringify(spec));
  execFileSync(python, [reference, path.join(dir, 'in.json'), path.join(dir, 'out.json')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const ref = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8')) as { loss: number; logits: number[][][]; grads: Record<string, { a: number[]; b: number[] }> };

  const logitsRel = relDiff(oursLogits, ref.logits.flat(2));
  let gradsRel = 0;
  let worst = '';
  for (const [i, m] of adapter.modules.entries()) {
    for (const [g, theirs, which] of [[grads[2 * i], ref.grads[m.key].a, 'A'], [grads[2 * i + 1], ref.grads[m.key].b, 'B']] as const) {
      const t = tf.transpose(g);
      const d = relDiff((await t.data()) as Float32Array, theirs);
      t.dispose();
      if (d >= gradsRel) [gradsRel, worst] = [d, `${m.key} lora_${which}`];
    }
  }
  tf.dispose([...grads, logits]);
  const pass = Math.abs(loss - ref.loss) / Math.abs(ref.loss) < tolerance && logitsRel < tolerance && gradsRel < tolerance;
  return { loss_ours: loss, loss_torch: ref.loss, logits_rel_diff: logitsRel, grads_rel_diff: gradsRel, worst_grad: worst, tolerance, base, pass };
}

/** max |a − b| / max |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} against the reference's ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}
