import type { ProjectionName } from '../llama/projection-names.ts';

/**
 * PEFT's default init: A ~ Kaiming-uniform with a = √5 (PyTorch's nn.Linear default), which for A [r, in] is
 * U(-1/√in, 1/√in); B = 0, so the adapted model starts exactly equal to the base.
 * `random` is a seeded uniform [0, 1) source so the same seed gives the same adapter.
 */
export function kaimingUniformInit(random: () => number, r: number) {
  return (_layer: number, _name: ProjectionName, inF: number, outF: number) => {
    const bound = 1 / Math.sqrt(inF); // gain √(2/(1+5)) · √3 / √fan_in
    const a = new Float32Array(r * inF);
    for (let i = 0; i < a.length; i++) a[i] = (2 * random() - 1) * bound;
    return { a, b: new Float32Array(outF * r) };
  };
}
