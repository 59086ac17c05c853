import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { FormatError } from '../errors.ts';
import { DTYPE_BYTES } from './dtypes.ts';
import { openSafetensors, type SafetensorsFile } from './safetensors.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

export const INDEX_FILE = 'model.safetensors.index.json';

const indexSchema = z.object({
  metadata: z.looseObject({ total_size: z.number().int().nonnegative() }).optional(),
  weight_map: z.record(z.string(), z.string()),
});

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. Shards are opened (headers only) at open; tensors are read on demand.
 */
export class CheckpointTensors implements TensorSource {
  private constructor(
    readonly dir: string,
    private readonly files: SafetensorsFile[],
    private readonly owner: Map<string, SafetensorsFile>,
  ) {}

  static async open(dir: string): Promise<CheckpointTensors> {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FormatError('model folder does not exist', dir, 'checkpoint/missing');
    const indexPath = path.join(dir, INDEX_FILE);
    const single = path.join(dir, 'model.safetensors');
    if (existsSync(indexPath)) return CheckpointTensors.openSharded(dir, indexPath);
    if (existsSync(single)) {
      const f = await openSafetensors(single);
      return new CheckpointTensors(dir, [f], new Map(f.list().map((t) => [t.name, f])));
    }
    const names = readdirSync(dir);
    const loose = names.filter((n) => n.endsWith('.safetensors'));
    if (loose.length) {
      throw new FormatError(`found ${loose.join(', ')} but neither model.safetensors nor ${INDEX_FILE}`, dir, 'checkpoint/no-index');
    }
    if (names.some((n) => n.endsWith('.bin') || n.endsWith('.pth'))) {
      throw new FormatError(
        'only PyTorch pickle weights (*.bin/*.pth) here; convert them to safetensors first (transformers: model.save_pretrained(dir, safe_serialization=True))',
        dir,
        'checkpoint/pickle',
      );
    }
    throw new FormatError('no model.safetensors or model.safetensors.index.json in this folder', dir, 'checkpoint/missing');
  }

  private static async openSharded(dir: string, indexPath: string): Promise<CheckpointTensors> {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new FormatError(`not valid JSON (${(e as Error).message})`, indexPath, 'checkpoint/index');
    }
    const parsed = indexSchema.safeParse(raw);
    if (!parsed.success) {
      throw new FormatError(`expected {metadata: {total_size}, weight_map: {tensor: file}} (${parsed.error.issues[0].message})`, indexPath, 'checkpoint/index');
    }
    const { weight_map: weightMap, metadata } = parsed.data;
    const shardNames = [...new Set(Object.values(weightMap))].sort();
    const files: SafetensorsFile[] = [];
    const owner = new Map<string, SafetensorsFile>();
    try {
      for (const shard of shardNames) {
        if (shard.includes('/') || shard.includes('\\')) throw new FormatError(`shard name "${shard}" must be a file in the same folder`, indexPath, 'checkpoint/index');
        const shardPath = path.join(dir, shard);
        if (!existsSync(shardPath)) throw new FormatError(`lists shard ${shard}, which does not exist`, indexPath, 'checkpoint/missing-shard');
        const f = await openSafetensors(shardPath);
        files.push(f);
        for (const t of f.list()) {
          const prior = owner.get(t.name);
          if (prior) throw new FormatError(`tensor ${t.name} is in both ${path.basename(prior.path)} and ${shard}`, indexPath, 'checkpoint/duplicate');
          owner.set(t.name, f);
        }
      }
      for (const [tensor, shard] of Object.entries(weightMap)) {
        const f = owner.get(tensor);
        if (!f || path.basename(f.path) !== shard) {
          throw new FormatError(`maps ${tensor} to ${shard}, but that shard does not hold it`, indexPath, 'checkpoint/index');
        }
      }
      let total = 0;
      for (const [name, f] of owner) {
        if (!(name in weightMap)) throw new FormatError(`tensor ${name} in ${path.basename(f.path)} is missing from the weight_map`, indexPath, 'checkpoint/index');
        const info = f.info(name);
        total += info.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[info.dtype];
      }
      if (metadata && metadata.total_size !== total) {
        throw new FormatError(`metadata.total_size is ${metadata.total_size} but the shards hold ${total} bytes of tensors`, indexPath, 'checkpoint/total-size');
      }
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    return new CheckpointTensors(dir, files, owner);
  }

  list(): TensorInfo[] {
    return [...this.owner.entries()].map(([name, f]) => f.info(name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  readF32(name: string): Promise<Float32Array> {
    return this.file(name).readF32(name);
  }

  readRaw(name: string): Promise<Uint8Array> {
    return this.file(name).readRaw(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.files.map((f) => f.close()));
  }

  private file(name: string): SafetensorsFile {
    const f = this.owner.get(name);
    if (!f) throw new FormatError(`no tensor named ${name}`, this.dir, 'checkpoint/no-tensor');
    return f;
  }
}

export function openCheckpoint(dir: string): Promise<CheckpointTensors> {
  return CheckpointTensors.open(dir);
}
