import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Prng, mixSeeds } from '../../main/engine/data/prng.ts';
import { kaimingUniformInit } from '../../main/engine/model/lora-init.ts';
import { PYTHON, missingTorch } from '../helpers/torch.ts';

// The cluster trainer draws its initial LoRA A from the engine's stream (cluster_trainer/prng.py), so a cluster run
// starts from the local run's adapter. Long draws run many lanes of the stream at once (jump-ahead by GF(2) matrix
// powers); the equality tests' small adapters take the one-draw-at-a-time path, so this holds the lanes to the stream.
const script = `
import json, struct, sys
sys.path.insert(0, ${JSON.stringify(path.resolve('cluster-trainer'))})
from cluster_trainer.prng import Prng, mix_seeds, uniform_init
p = Prng(42)
bulk = p.take(100_003).tolist()
after = [p.next_uint32() for _ in range(3)]
a = uniform_init(Prng(7), 8, 4096)  # one A [r, in] of a 4096-wide projection: 32,768 draws, the lanes' path
print(json.dumps({"head": bulk[:5], "tail": bulk[-5:], "sum": sum(bulk) % 2**32, "after": after,
                  "mix": [mix_seeds(42, 0), mix_seeds(1, 2, 3, 4, 5)], "a": list(struct.unpack("<32768I", a.numpy().tobytes()))}))
`;

describe.skipIf(missingTorch())("the cluster trainer's PRNG", () => {
  it('is the engine stream, draw for draw, in bulk too; the LoRA init is the same f32 bits', () => {
    const py = JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 24 })) as {
      head: number[];
      tail: number[];
      sum: number;
      after: number[];
      mix: number[];
      a: number[];
    };
    const p = new Prng(42);
    const bulk = Array.from({ length: 100_003 }, () => p.nextUint32());
    expect(py.head).toEqual(bulk.slice(0, 5));
    expect(py.tail).toEqual(bulk.slice(-5));
    expect(py.sum).toBe(bulk.reduce((s, x) => (s + x) % 2 ** 32, 0));
    expect(py.after).toEqual([p.nextUint32(), p.nextUint32(), p.nextUint32()]);
    expect(py.mix).toEqual([mixSeeds(42, 0), mixSeeds(1, 2, 3, 4, 5)]);
    const q = new Prng(7);
    const { a } = kaimingUniformInit(() => q.next(), 8)(0, 'q_proj', 4096, 4096);
    expect(py.a).toEqual([...new Uint32Array(a.buffer)]);
  });
});
