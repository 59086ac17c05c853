import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { FormatError } from '../errors.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { projectionPath, projectionShape, unknownProjections, type ProjectionName } from '../llama/projections.ts';
import { writeFileAtomic } from '../fs/atomic-write.ts';
import { openSafetensors, writeSafetensors } from './safetensors.ts';

export const ADAPTER_CONFIG = 'adapter_config.json';

/** The adapter folder a user means: the folder itself, or a run folder's adapter/ subfolder. */
export function adapterFolder(dir: string): string {
  return !existsSync(path.join(dir, ADAPTER_CONFIG)) && existsSync(path.join(dir, 'adapter', ADAPTER_CONFIG))
    ? path.join(dir, 'adapter')
    : dir;
}
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** The adapter_config.json fields PEFT writes for a LoRA adapter on a causal LM. */
const adapterConfigSchema = z.looseObject({
  peft_type: z.literal('LORA'),
  task_type: z.string().optional(),
  base_model_name_or_path: z.string().nullable().optional(),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).max(1).default(0),
  target_modules: z.union([z.array(z.string()), z.string()]),
  bias: z.string().default('none'),
  fan_in_fan_out: z.boolean().default(false),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  modules_to_save: z.array(z.string()).nullable().optional(),
  init_lora_weights: z.union([z.boolean(), z.string()]).optional(),
  inference_mode: z.boolean().optional(),
});
export type AdapterConfig = z.infer<typeof adapterConfigSchema>;

/** The config PEFT would write for our settings (PEFT ≥ 0.10 field names). */
export function makeAdapterConfig(s: {
  baseModel: string;
  r: number;
  alpha: number;
  dropout: number;
  targetModules: readonly string[];
  useRslora: boolean;
}): AdapterConfig {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: s.baseModel,
    r: s.r,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: [...s.targetModules],
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: s.useRslora,
    use_dora: false,
    init_lora_weights: true,
    modules_to_save: null,
    inference_mode: true,
  };
}

/** The key prefix PEFT gives a module's LoRA pair, e.g. `base_model.model.model.layers.0.self_attn.q_proj`. */
export function peftKey(layer: number, name: ProjectionName): string {
  return `base_model.model.${projectionPath(layer, name)}`;
}

export interface AdapterTensor {
  /** e.g. `base_model.model.model.layers.0.self_attn.q_proj` (peftKey) */
  key: string;
  a: Float32Array; // [r, in]
  b: Float32Array; // [out, r]
  aShape: number[];
  bShape: number[];
}

/** Write adapter_config.json + adapter_model.safetensors (F32, metadata {"format": "pt"}), each atomically. */
export async function writePeftAdapter(dir: string, config: AdapterConfig, tensors: AdapterTensor[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = tensors.flatMap((t) => [
    { name: `${t.key}.lora_A.weight`, dtype: 'F32' as const, shape: t.aShape, data: bytesOf(t.a) },
    { name: `${t.key}.lora_B.weight`, dtype: 'F32' as const, shape: t.bShape, data: bytesOf(t.b) },
  ]);
  await writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), entries, { metadata: { format: 'pt' } });
  await writeFileAtomic(path.join(dir, ADAPTER_CONFIG), JSON.stringify(config, null, 2) + '\n');
}

export interface LoadedAdapter {
  dir: string;
  config: AdapterConfig;
  targetModules: ProjectionName[];
  /** Per (layer, module): A [r, in] and B [out, r]. */
  modules: Map<string, { layer: number; name: ProjectionName; a: Float32Array; b: Float32Array }>;
  warnings: string[];
}

const KEY_RE = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(\.default)?\.weight$/;

/**
 * Read a PEFT LoRA adapter and check it against the base model's config before anything uses it: every tensor
 * named, shaped and ranked as the config says, no module missing, no stray tensor. Errors name the tensor.
 */
export async function readPeftAdapter(dir: string, base: LlamaConfig): Promise<LoadedAdapter> {
  const configFile = path.join(dir, ADAPTER_CONFIG);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS);
  if (!existsSync(configFile)) throw new FormatError('no adapter_config.json: not a PEFT adapter folder', dir, 'adapter/missing');
  if (!existsSync(weightsFile)) {
    const bin = path.join(dir, 'adapter_model.bin');
    if (existsSync(bin)) {
      throw new FormatError(
        'adapter_model.bin (PyTorch pickle) is not read, for safety; convert it with PEFT: ' +
          'PeftModel.from_pretrained(base, dir).save_pretrained(out, safe_serialization=True)',
        bin,
        'adapter/bin',
      );
    }
    throw new FormatError(`no ${ADAPTER_WEIGHTS}`, dir, 'adapter/missing');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, configFile, 'adapter/config');
  }
  const parsed = adapterConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FormatError(
      `invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      configFile,
      'adapter/config',
    );
  }
  const config = parsed.data;
  const warnings: string[] = [];
  const knownKeys = new Set(Object.keys(adapterConfigSchema.shape));
  const unknownKeys = Object.keys(raw as object).filter((k) => !knownKeys.has(k));
  if (unknownKeys.length) warnings.push(`${configFile}: ignored keys ${unknownKeys.join(', ')}`);
  if (config.use_dora) throw new FormatError('DoRA adapters (use_dora: true) are not supported', configFile, 'adapter/dora');
  if (config.fan_in_fan_out)
    throw new FormatError('fan_in_fan_out adapters (GPT-2 style Conv1D) do not apply to LLaMA', configFile, 'adapter/config');
  if (config.bias !== 'none') warnings.push(`${configFile}: bias "${config.bias}" is ignored; no bias tensors are read`);

  const targets = (typeof config.target_modules === 'string' ? [config.target_modules] : config.target_modules) as string[];
  const [unknown] = unknownProjections(targets);
  if (unknown !== undefined)
    throw new FormatError(`target_modules names "${unknown}", which is not a LLaMA projection`, configFile, 'adapter/targets');
  const targetModules = targets as ProjectionName[];

  const file = await openSafetensors(weightsFile);
  try {
    const modules: LoadedAdapter['modules'] = new Map();
    for (const info of file.list()) {
      const m = KEY_RE.exec(info.name);
      if (!m) throw new FormatError(`tensor ${info.name} is not a LoRA A/B weight of a LLaMA layer`, weightsFile, 'adapter/tensor');
      const [, layerText, , name, which, adapterName] = m;
      if (adapterName) {
        throw new FormatError(
          `tensor ${info.name} carries the adapter name ".default" in its key; PEFT saves without it — re-save the adapter with PEFT's save_pretrained`,
          weightsFile,
          'adapter/default-name',
        );
      }
      const layer = Number(layerText);
      if (layer >= base.numLayers)
        throw new FormatError(
          `tensor ${info.name}: layer ${layer} does not exist (the base has ${base.numLayers})`,
          weightsFile,
          'adapter/layer',
        );
      if (!targetModules.includes(name as ProjectionName)) {
        throw new FormatError(
          `tensor ${info.name}: module ${name} is not in target_modules [${targets.join(', ')}]`,
          weightsFile,
          'adapter/targets',
        );
      }
      const [outF, inF] = projectionShape(base, name as ProjectionName);
      const expected = which === 'A' ? [config.r, inF] : [outF, config.r];
      if (info.shape.length !== 2 || info.shape[0] !== expected[0] || info.shape[1] !== expected[1]) {
        throw new FormatError(
          `tensor ${info.name} has shape [${info.shape.join(', ')}] but r=${config.r} and the base model need [${expected.join(', ')}]`,
          weightsFile,
          'adapter/shape',
        );
      }
      const key = `${layer}.${name}`;
      const entry = modules.get(key) ?? { layer, name: name as ProjectionName, a: new Float32Array(0), b: new Float32Array(0) };
      if (which === 'A') entry.a = await file.readF32(info.name);
      else entry.b = await file.readF32(info.name);
      modules.set(key, entry);
    }
    for (let l = 0; l < base.numLayers; l++) {
      for (const t of targetModules) {
        const e = modules.get(`${l}.${t}`);
        const prefix = peftKey(l, t);
        if (!e || e.a.length === 0) throw new FormatError(`missing tensor ${prefix}.lora_A.weight`, weightsFile, 'adapter/missing-tensor');
        if (e.b.length === 0) throw new FormatError(`missing tensor ${prefix}.lora_B.weight`, weightsFile, 'adapter/missing-tensor');
      }
    }
    return { dir, config, targetModules, modules, warnings };
  } finally {
    await file.close();
  }
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
