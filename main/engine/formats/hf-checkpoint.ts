import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FormatError, StudioError } from '../errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { DTYPE_BYTES } from './dtypes.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from './peft-adapter.ts';
import { compareNames } from './safetensors-header.ts';
import { openSafetensors, type SafetensorsFile } from './safetensors.ts';
import type { TensorInfo, TensorSource } from './tensor-source.ts';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** transformers' name for shard `index` (0-based) of `count`: model-00001-of-00003.safetensors. */
export function shardFileName(index: number, count: number): string {
  return `model-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

const indexSchema = z.object({
  // transformers writes {total_size} (newer versions add total_parameters); older tools omit metadata.
  metadata: z.looseObject({ total_size: z.number().int().nonnegative() }).optional(),
  weight_map: z.record(z.string(), z.string()),
});

/** Bytes of a tensor's data as stored. */
function byteSize(t: TensorInfo): number {
  return t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
}

/**
 * The weights of a Hugging Face model folder: `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`. At open only headers are read (the index is checked against them);
 * each tensor's bytes are read when asked for.
 */
class CheckpointTensors implements TensorSource {
  private constructor(
    /** The folder (or the single .safetensors file when one was given). */
    readonly dir: string,
    private readonly files: SafetensorsFile[],
    private readonly owner: Map<string, SafetensorsFile>,
    /** The index file when the checkpoint is sharded. */
    readonly indexPath?: string,
    /** What a user should know about how the folder was read (printed by every command that reads it). */
    readonly warnings: string[] = [],
  ) {}

  static async open(dir: string): Promise<CheckpointTensors> {
    const st = await stat(dir).catch(() => undefined);
    if (!st) throw new FormatError('model folder does not exist', dir, 'checkpoint/missing');
    if (st.isFile() && dir.endsWith('.safetensors')) return CheckpointTensors.single(dir, dir);
    if (!st.isDirectory())
      throw new FormatError('expected a model folder (config.json, model.safetensors ...)', dir, 'checkpoint/not-a-folder');
    const names = await readdir(dir);
    // transformers (modeling_utils) looks for model.safetensors first and reads the index only when it is absent: a
    // folder with both is read the way transformers reads it, and says so.
    if (names.includes(SINGLE_FILE)) {
      const warnings = names.includes(INDEX_FILE)
        ? [
            `${dir}: holds both ${SINGLE_FILE} and ${INDEX_FILE}; reading ${SINGLE_FILE}, as transformers does (the index and its shards are ignored; remove the one you do not mean)`,
          ]
        : [];
      return CheckpointTensors.single(dir, path.join(dir, SINGLE_FILE), warnings);
    }
    if (names.includes(INDEX_FILE)) return CheckpointTensors.openSharded(dir, path.join(dir, INDEX_FILE));

    const loose = names.filter((n) => n.endsWith('.safetensors'));
    if (names.includes(ADAPTER_WEIGHTS) || names.includes(ADAPTER_CONFIG)) {
      throw new FormatError(
        'this is a LoRA adapter folder, not a model; give the base model folder (and the adapter separately)',
        dir,
        'checkpoint/adapter',
      );
    }
    if (loose.length) {
      throw new FormatError(`found ${loose.join(', ')} but neither ${SINGLE_FILE} nor ${INDEX_FILE}`, dir, 'checkpoint/no-index');
    }
    if (names.some((n) => n.endsWith('.bin') || n.endsWith('.pth') || n.endsWith('.pt'))) {
      throw new FormatError(
        'only PyTorch pickle weights (pytorch_model.bin / *.pth) here; convert to safetensors first ' +
          '(transformers: model.save_pretrained(dir, safe_serialization=True))',
        dir,
        'checkpoint/pickle',
      );
    }
    if (names.some((n) => n.endsWith('.gguf'))) {
      throw new FormatError('only GGUF files here; training needs the Hugging Face safetensors weights', dir, 'checkpoint/gguf');
    }
    throw new FormatError(`no ${SINGLE_FILE} or ${INDEX_FILE} in this folder`, dir, 'checkpoint/no-weights');
  }

  private static async single(dir: string, file: string, warnings: string[] = []): Promise<CheckpointTensors> {
    const f = await openSafetensors(file);
    return new CheckpointTensors(dir, [f], new Map(f.list().map((t) => [t.name, f])), undefined, warnings);
  }

  private static async openSharded(dir: string, indexPath: string): Promise<CheckpointTensors> {
    const fail = (code: string, msg: string): never => {
      throw new FormatError(msg, indexPath, `checkpoint/${code}`);
    };
    let raw: unknown;
    try {
      raw = await readJsonFile(indexPath, { maxBytes: JSON_FILE_LIMITS.config, what: 'shard index', code: 'checkpoint/index' });
    } catch (e) {
      if (e instanceof StudioError) return fail('index', e.message.replace(`${indexPath}: `, ''));
      throw e;
    }
    const parsed = indexSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return fail(
        'index',
        `expected {"metadata": {"total_size": n}, "weight_map": {tensor: file}}; ${issue.path.join('.') || 'top level'}: ${issue.message}`,
      );
    }
    const { weight_map: weightMap, metadata } = parsed.data;
    if (Object.keys(weightMap).length === 0) fail('index', 'weight_map lists no tensors');
    const shardNames = [...new Set(Object.values(weightMap))].sort(compareNames);
    for (const shard of shardNames) {
      // Shards live beside the index: no folders, no "..", nothing that could point elsewhere.
      if (path.basename(shard) !== shard || shard === '.' || shard === '..' || shard.includes('\\')) {
        fail('index', `shard name ${JSON.stringify(shard)} must be a file name in the same folder`);
      }
    }

    const files: SafetensorsFile[] = [];
    const owner = new Map<string, SafetensorsFile>();
    try {
      for (const shard of shardNames) {
        const shardPath = path.join(dir, shard);
        if (!(await stat(shardPath).catch(() => undefined))) fail('missing-shard', `lists shard ${shard}, which does not exist`);
        const f = await openSafetensors(shardPath);
        files.push(f);
        for (const t of f.list()) {
          const prior = owner.get(t.name);
          if (prior) fail('duplicate', `tensor ${t.name} is in both ${path.basename(prior.path)} and ${shard}`);
          owner.set(t.name, f);
        }
      }
      for (const [tensor, shard] of Object.entries(weightMap)) {
        const f = owner.get(tensor);
        if (!f) fail('unmapped', `maps ${tensor} to ${shard}, but no shard holds it`);
        else if (path.basename(f.path) !== shard)
          fail('wrong-shard', `maps ${tensor} to ${shard}, but that shard does not hold it (${path.basename(f.path)} does)`);
      }
      let total = 0;
      for (const [name, f] of owner) {
        if (!Object.hasOwn(weightMap, name)) fail('unlisted', `tensor ${name} in ${path.basename(f.path)} is missing from the weight_map`);
        total += byteSize(f.info(name));
      }
      if (metadata && metadata.total_size !== total) {
        fail('total-size', `metadata.total_size is ${metadata.total_size} but the shards hold ${total} bytes of tensors`);
      }
    } catch (e) {
      await Promise.all(files.map((f) => f.close()));
      throw e;
    }
    return new CheckpointTensors(dir, files, owner, indexPath);
  }

  /** The safetensors files behind this checkpoint, in shard order. */
  get shardPaths(): string[] {
    return this.files.map((f) => f.path);
  }

  /** Bytes of tensor data in all shards (what an index's total_size holds). */
  get totalBytes(): number {
    let total = 0;
    for (const [name, f] of this.owner) total += byteSize(f.info(name));
    return total;
  }

  list(): TensorInfo[] {
    return [...this.owner.entries()].map(([name, f]) => f.info(name)).sort((a, b) => compareNames(a.name, b.name));
  }

  has(name: string): boolean {
    return this.owner.has(name);
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  /** The shard a tensor lives in. */
  shardOf(name: string): string {
    return this.file(name).path;
  }

  // async so that an unknown name rejects like every other failure instead of throwing synchronously
  async readF32(name: string): Promise<Float32Array> {
    return this.file(name).readF32(name);
  }

  async readRaw(name: string): Promise<Uint8Array> {
    return this.file(name).readRaw(name);
  }

  async readF32Rows(name: string, start: number, end: number): Promise<Float32Array> {
    return this.file(name).readF32Rows(name, start, end);
  }

  async readRawRows(name: string, start: number, end: number): Promise<Uint8Array> {
    return this.file(name).readRawRows(name, start, end);
  }

  async readRawRowsInto(name: string, start: number, end: number, into: Uint8Array): Promise<Uint8Array> {
    return this.file(name).readRawRowsInto(name, start, end, into);
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
