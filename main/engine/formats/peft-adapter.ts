import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { FormatError } from '../errors.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { projectionPath, projectionShape, type ProjectionName } from '../llama/projections.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { adapterConfigSchema, planAdapter, type AdapterConfig } from './peft-config.ts';
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

export type { AdapterConfig } from './peft-config.ts';

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

/** One adapted module of a loaded adapter: its weights, and the rank and scale PEFT gives it. */
export interface LoadedModule {
  layer: number;
  name: ProjectionName;
  a: Float32Array; // [r, in]
  b: Float32Array; // [out, r]
  r: number;
  alpha: number;
  /** alpha / r (alpha / √r with rsLoRA), after rank_pattern and alpha_pattern. */
  scale: number;
}

export interface LoadedAdapter {
  dir: string;
  config: AdapterConfig;
  /** The projections adapted in at least one layer. */
  targetModules: ProjectionName[];
  /** Per adapted (layer, module), keyed `${layer}.${name}`; layers_to_transform may leave layers out. */
  modules: Map<string, LoadedModule>;
  warnings: string[];
}

const KEY_RE = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(\.default)?\.weight$/;

/**
 * Read a PEFT LoRA adapter and check it against the base model's config before anything uses it: the config read
 * whole (peft-config.ts: which modules carry LoRA, with what rank and scale), every tensor named and shaped as that
 * plan says, no module missing, no stray tensor, no NaN or Inf (the safetensors reader counts them). Errors name the
 * field or the tensor.
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
  const raw = await readJsonFile(configFile, { maxBytes: JSON_FILE_LIMITS.config, what: ADAPTER_CONFIG, code: 'adapter/config' });
  const parsed = adapterConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new FormatError(
      `invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      configFile,
      'adapter/config',
    );
  }
  const config = parsed.data;
  const plan = planAdapter(raw as Record<string, unknown>, config, base, configFile);

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
      const planned = plan.modules.get(`${layer}.${name}`);
      if (!planned) {
        throw new FormatError(
          `tensor ${info.name}: adapter_config.json does not adapt ${projectionPath(layer, name as ProjectionName)} (target_modules ${JSON.stringify(config.target_modules)}${config.layers_to_transform === undefined || config.layers_to_transform === null ? '' : `, layers_to_transform ${JSON.stringify(config.layers_to_transform)}`})`,
          weightsFile,
          'adapter/targets',
        );
      }
      const [outF, inF] = projectionShape(base, name as ProjectionName);
      const r = planned.r;
      const expected = which === 'A' ? [r, inF] : [outF, r];
      if (info.shape.length !== 2 || info.shape[0] !== expected[0] || info.shape[1] !== expected[1]) {
        throw new FormatError(
          `tensor ${info.name} has shape [${info.shape.join(', ')}] but r=${r}${r === config.r ? '' : ' (rank_pattern)'} and the base model need [${expected.join(', ')}]`,
          weightsFile,
          'adapter/shape',
        );
      }
      const key = `${layer}.${name}`;
      const entry = modules.get(key) ?? { ...planned, a: new Float32Array(0), b: new Float32Array(0) };
      if (which === 'A') entry.a = await file.readF32(info.name);
      else entry.b = await file.readF32(info.name);
      modules.set(key, entry);
    }
    for (const { layer, name } of plan.modules.values()) {
      const e = modules.get(`${layer}.${name}`);
      const prefix = peftKey(layer, name);
      if (!e || e.a.length === 0) throw new FormatError(`missing tensor ${prefix}.lora_A.weight`, weightsFile, 'adapter/missing-tensor');
      if (e.b.length === 0) throw new FormatError(`missing tensor ${prefix}.lora_B.weight`, weightsFile, 'adapter/missing-tensor');
    }
    return { dir, config, targetModules: plan.targetNames, modules, warnings: plan.warnings };
  } finally {
    await file.close();
  }
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
