import type { TensorInfo, TensorSource } from '../../main/engine/formats/tensor-source.ts';
import type { LlamaConfig } from '../../main/engine/llama/config.ts';
import { expectedTensors } from '../../main/engine/llama/tensors.ts';

/**
 * Every tensor a LLaMA of `config` needs, made in memory on demand (norms 1, matrices small values in ±0.02 from a
 * cheap hash), for runs that need shapes and finite values but no file: a 1.1B-wide slice loads in seconds.
 */
export function syntheticTensorSource(config: LlamaConfig): TensorSource {
  const infos = new Map<string, TensorInfo>([...expectedTensors(config)].map(([name, shape]) => [name, { name, dtype: 'F32', shape }]));
  const info = (name: string) => {
    const i = infos.get(name);
    if (!i) throw new Error(`no tensor ${name}`);
    return i;
  };
  const readF32 = async (name: string) => {
    const { shape } = info(name);
    const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length === 1) return v.fill(1);
    for (let i = 0; i < v.length; i++) v[i] = (((i * 2654435761) >>> 0) / 2 ** 32 - 0.5) * 0.04;
    return v;
  };
  // Rows [start, end) of the row-major tensor (a 1-D tensor's rows are its elements).
  const readF32Rows = async (name: string, start: number, end: number) => {
    const { shape } = info(name);
    const width = shape.length === 1 ? 1 : shape.slice(1).reduce((a, b) => a * b, 1);
    return (await readF32(name)).slice(start * width, end * width);
  };
  return {
    list: () => [...infos.values()].sort((a, b) => a.name.localeCompare(b.name)),
    has: (name) => infos.has(name),
    info,
    readF32,
    readRaw: async (name) => new Uint8Array((await readF32(name)).buffer),
    readF32Rows,
    readRawRows: async (name, start, end) => new Uint8Array((await readF32Rows(name, start, end)).buffer),
    close: async () => {},
  };
}
