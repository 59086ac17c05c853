import { Prng } from '../data/prng.ts';
import { makeAdapterConfig, peftKey, writePeftAdapter, type AdapterTensor } from '../formats/peft-adapter.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import { projectionShape, type ProjectionName } from '../llama/projections.ts';

interface SyntheticAdapterOptions {
  r: number;
  /** Default 2r (scale 2), as Alpaca-LoRA's r 8 / alpha 16. */
  alpha?: number;
  targetModules: readonly ProjectionName[];
  seed?: number;
}

/** B's range: at alpha = 2r the merged update (alpha/r)·B·A has 0.067·√r of a synthetic base's spread (19% at r 8). */
const B_BOUND = 0.1;

/**
 * A PEFT LoRA adapter with random non-zero weights for the model in `baseDir` (its config.json gives the shapes), as
 * a trained one would be: merge and export checks and benchmarks need no training run. A is drawn as PEFT initializes
 * it (Kaiming-uniform, a = √5: ±1/√in); B, zero in a fresh adapter, is drawn in ±0.1 so the merge changes every
 * weight by far more than any export dtype's rounding. Written by the project's PEFT writer.
 */
export async function writeSyntheticAdapter(dir: string, baseDir: string, opts: SyntheticAdapterOptions): Promise<void> {
  const config = await loadLlamaConfig(baseDir);
  const { r, targetModules } = opts;
  const prng = new Prng(opts.seed ?? 5);
  const uniform = (n: number, bound: number) => Float32Array.from({ length: n }, () => (2 * prng.next() - 1) * bound);
  const tensors: AdapterTensor[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    for (const name of targetModules) {
      const [out, inp] = projectionShape(config, name);
      const a = uniform(r * inp, 1 / Math.sqrt(inp));
      const b = uniform(out * r, B_BOUND);
      tensors.push({ key: peftKey(layer, name), a, b, aShape: [r, inp], bShape: [out, r] });
    }
  }
  await writePeftAdapter(
    dir,
    makeAdapterConfig({ baseModel: baseDir, r, alpha: opts.alpha ?? 2 * r, dropout: 0, targetModules, useRslora: false }),
    tensors,
  );
}
