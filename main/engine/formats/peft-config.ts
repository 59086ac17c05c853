import { z } from 'zod';
import { FormatError } from '../errors.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { checkLoraScale, loraScale } from '../llama/lora-scale.ts';
import { PROJECTIONS, projectionPath, type ProjectionName } from '../llama/projections.ts';

/**
 * adapter_config.json read whole, as PEFT's LoraConfig and LoraModel read it (peft ≥ 0.14): every field that changes
 * the math is applied (target_modules as a list or a regex, exclude_modules, layers_to_transform, layers_pattern,
 * rank_pattern, alpha_pattern, use_rslora) or refused by name; fields that change nothing at inference are kept
 * quietly, or dropped with a warning when they carry a value we do not use.
 */

const stringOrList = z.union([z.string(), z.array(z.string())]);

/** The fields LoRA Studio reads. */
export const adapterConfigSchema = z.looseObject({
  peft_type: z.literal('LORA'),
  task_type: z.string().nullable().optional(),
  base_model_name_or_path: z.string().nullable().optional(),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).max(1).default(0),
  target_modules: stringOrList,
  exclude_modules: stringOrList.nullable().optional(),
  bias: z.string().default('none'),
  fan_in_fan_out: z.boolean().default(false),
  use_rslora: z.boolean().default(false),
  use_dora: z.boolean().default(false),
  modules_to_save: z.array(z.string()).nullable().optional(),
  init_lora_weights: z.union([z.boolean(), z.string()]).optional(),
  inference_mode: z.boolean().optional(),
  layers_to_transform: z
    .union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())])
    .nullable()
    .optional(),
  layers_pattern: stringOrList.nullable().optional(),
  rank_pattern: z.record(z.string(), z.number().int().positive()).nullable().optional(),
  alpha_pattern: z.record(z.string(), z.number().positive()).nullable().optional(),
});
export type AdapterConfig = z.infer<typeof adapterConfigSchema>;

/** PEFT fields that change nothing when a saved LoRA adapter is applied: kept without a word. */
const METADATA_FIELDS = new Set(['revision', 'peft_version', 'auto_mapping', 'runtime_config']);

/**
 * PEFT fields that matter only while an adapter is initialised or trained, or only for other module types: dropped,
 * with a warning when they hold a value.
 */
const INERT_FIELDS = new Set([
  'megatron_config',
  'megatron_core',
  'loftq_config',
  'eva_config',
  'corda_config',
  'lora_ga_config',
  'qalora_group_size',
  'ensure_weight_tying',
]);

/** PEFT fields whose non-default value changes the forward pass: applied nowhere here, so refused by name. */
const MATH_FIELDS: Record<string, string> = {
  use_dora: 'DoRA adapters (use_dora) rescale each weight column by a learned magnitude',
  fan_in_fan_out: 'fan_in_fan_out adapters are for GPT-2 style Conv1D layers, not LLaMA',
  lora_bias: 'lora_bias adds a trained bias to lora_B',
  use_qalora: 'QALoRA (use_qalora) pools the input groups before lora_A',
  layer_replication: 'layer_replication duplicates decoder layers',
  target_parameters: 'target_parameters adapts raw parameters (e.g. MoE experts), not linear layers',
  trainable_token_indices: 'trainable_token_indices trains rows of the embedding',
  modules_to_save: 'modules_to_save stores whole trained modules beside the LoRA weights',
  alora_invocation_tokens: 'activated LoRA (alora_invocation_tokens) applies the adapter only after those tokens',
  use_bdlora: 'BD-LoRA (use_bdlora) uses block-diagonal LoRA factors',
  arrow_config: 'Arrow (arrow_config) routes between several LoRA experts',
  velora_config: 'VeLoRA (velora_config) changes the LoRA path',
  monteclora_config: 'MonteCLoRA (monteclora_config) samples the LoRA weights',
  kasa_config: 'kasa_config changes the LoRA layer',
};

/** init_lora_weights values whose adapter belongs to a base PEFT changed when it was created (PiSSA, OLoRA, ...). */
const BASE_CHANGING_INITS = /^(pissa|olora|corda|loftq|lora_ga|mica)/i;

/** Whether a field holds a value that switches something on (not null, false, an empty list or object, 0 or ''). */
function isSet(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/** A Python regex from the config as a JS RegExp, or a refusal naming the field. */
function pythonRegex(source: string, wrap: (s: string) => string, field: string, file: string): RegExp {
  try {
    return new RegExp(wrap(source));
  } catch (e) {
    throw new FormatError(
      `${field}: ${JSON.stringify(source)} is not a pattern LoRA Studio can apply (${(e as Error).message})`,
      file,
      'adapter/config',
    );
  }
}

/** One adapted module as PEFT builds it: its rank, alpha and scale. */
interface ModulePlan {
  layer: number;
  name: ProjectionName;
  r: number;
  alpha: number;
  scale: number;
}

interface AdapterPlan {
  /** Every adapted (layer, projection), keyed `${layer}.${name}`. */
  modules: Map<string, ModulePlan>;
  /** The projections adapted in some layer, in PROJECTIONS order. */
  targetNames: ProjectionName[];
  warnings: string[];
}

/**
 * Check the config's fields and work out which modules carry LoRA and with what rank and scale, as PEFT does for the
 * module names of a LlamaForCausalLM (`model.layers.N.self_attn.q_proj`):
 * - target_modules: a list matches a module whose name is the entry or ends with `.entry`; a string is a regex the
 *   whole name must match (check_target_module_exists);
 * - exclude_modules: the same rules, taking modules out;
 * - layers_to_transform (with a list target_modules): only layers with these indexes, the index being the first
 *   numbered name segment, or the one after a layers_pattern segment;
 * - rank_pattern / alpha_pattern: the first key (in file order) that matches the end of the name at a dot boundary
 *   (`(.*\.)?(key)$`, get_pattern_key) gives r / lora_alpha; rank and alpha are looked up separately (peft ≥ 0.14);
 * - scale: lora_alpha / r, or lora_alpha / √r with use_rslora (update_layer).
 */
export function planAdapter(raw: Record<string, unknown>, config: AdapterConfig, base: LlamaConfig, file: string): AdapterPlan {
  const refuse = (message: string, code = 'adapter/config'): never => {
    throw new FormatError(message, file, code);
  };
  const warnings: string[] = [];
  const known = new Set(Object.keys(adapterConfigSchema.shape));
  for (const [field, value] of Object.entries(raw)) {
    const why = MATH_FIELDS[field];
    if (why !== undefined) {
      if (isSet(value))
        refuse(
          `${field} is set: ${why}, which LoRA Studio does not apply; merge it with PEFT instead`,
          field === 'use_dora' ? 'adapter/dora' : 'adapter/config',
        );
    } else if (INERT_FIELDS.has(field)) {
      if (isSet(value)) warnings.push(`${file}: ${field} only matters while an adapter is created or trained; dropped`);
    } else if (!known.has(field) && !METADATA_FIELDS.has(field)) {
      if (isSet(value))
        refuse(
          `unknown field ${field} (${JSON.stringify(value).slice(0, 40)}) may change how the adapter applies; LoRA Studio cannot tell, so it refuses rather than ignore it. Remove the field if it does not change the math`,
          'adapter/unknown-field',
        );
      warnings.push(`${file}: unknown field ${field} holds no value; dropped`);
    }
  }
  const init = config.init_lora_weights;
  if (typeof init === 'string' && BASE_CHANGING_INITS.test(init))
    refuse(
      `init_lora_weights "${init}" changed the base weights when the adapter was made, so it does not apply to the original base; convert it with PEFT's save_pretrained(path_initial_model_for_weight_conversion=...) first`,
    );
  if (config.bias !== 'none') warnings.push(`${file}: bias "${config.bias}" is ignored; no bias tensors are read`);

  const { target_modules: targets, layers_to_transform: layerIndexes, layers_pattern: layersPattern } = config;
  if (typeof targets === 'string' && layerIndexes !== null && layerIndexes !== undefined)
    refuse('layers_to_transform cannot be used when target_modules is a regex string (PEFT refuses it too)');
  if (typeof targets === 'string' && layersPattern !== null && layersPattern !== undefined)
    refuse('layers_pattern cannot be used when target_modules is a regex string (PEFT refuses it too)');
  if (isSet(layersPattern) && (layerIndexes === null || layerIndexes === undefined))
    refuse('layers_pattern is given without layers_to_transform (PEFT refuses it too)');

  const byName = (list: string[], key: string) => list.includes(key) || list.some((t) => key.endsWith(`.${t}`));
  const targetRegex = typeof targets === 'string' ? pythonRegex(targets, (s) => `^(?:${s})$`, 'target_modules', file) : undefined;
  const exclude = config.exclude_modules;
  const excludeRegex = typeof exclude === 'string' ? pythonRegex(exclude, (s) => `^(?:${s})$`, 'exclude_modules', file) : undefined;
  const layerList =
    layerIndexes === null || layerIndexes === undefined ? undefined : typeof layerIndexes === 'number' ? [layerIndexes] : layerIndexes;
  const usesLayers = layerList !== undefined && (typeof layerIndexes === 'number' || layerList.length > 0);
  const patterns = typeof layersPattern === 'string' ? [layersPattern] : (layersPattern ?? []);
  const layerRegexes =
    patterns.length === 0
      ? [/^.*?\.[^.]*\.(\d+)\./]
      : patterns.map((p) => pythonRegex(p, (s) => `^.*?\\.${s}\\.(\\d+)\\.`, 'layers_pattern', file));
  const rankKeys = Object.keys(config.rank_pattern ?? {}).map(
    (k) => [k, pythonRegex(k, (s) => `^(.*\\.)?(${s})$`, 'rank_pattern', file)] as const,
  );
  const alphaKeys = Object.keys(config.alpha_pattern ?? {}).map(
    (k) => [k, pythonRegex(k, (s) => `^(.*\\.)?(${s})$`, 'alpha_pattern', file)] as const,
  );

  const targeted = (key: string): boolean => {
    if (excludeRegex ? excludeRegex.test(key) : Array.isArray(exclude) && byName(exclude, key)) return false;
    if (targetRegex) return targetRegex.test(key);
    const list = targets as string[];
    if (list.includes(key)) return true;
    if (!list.some((t) => key.endsWith(`.${t}`))) return false;
    if (!usesLayers) return true;
    for (const re of layerRegexes) {
      const m = re.exec(key);
      if (m) return layerList!.includes(Number(m[1]));
    }
    return false;
  };

  const modules = new Map<string, ModulePlan>();
  for (let layer = 0; layer < base.numLayers; layer++) {
    for (const name of PROJECTIONS) {
      const key = projectionPath(layer, name);
      if (!targeted(key)) continue;
      const rankKey = rankKeys.find(([, re]) => re.test(key))?.[0];
      const alphaKey = alphaKeys.find(([, re]) => re.test(key))?.[0];
      const r = rankKey === undefined ? config.r : config.rank_pattern![rankKey];
      const alpha = alphaKey === undefined ? config.lora_alpha : config.alpha_pattern![alphaKey];
      const scale = loraScale({ r, alpha, useRslora: config.use_rslora });
      const scaleProblem = checkLoraScale({ r, alpha, useRslora: config.use_rslora });
      if (scaleProblem) refuse(`${key}: ${scaleProblem}`, 'adapter/scale');
      modules.set(`${layer}.${name}`, { layer, name, r, alpha, scale });
    }
  }

  // Every list entry must name something of the model (PEFT fails on a target it cannot find).
  if (Array.isArray(targets)) {
    for (const t of targets) {
      const hits = [...Array(base.numLayers).keys()].some((l) => PROJECTIONS.some((p) => byName([t], projectionPath(l, p))));
      if (!hits) refuse(`target_modules names "${t}", which is not a LLaMA projection (${PROJECTIONS.join(', ')})`, 'adapter/targets');
    }
  }
  if (modules.size === 0) {
    const hint =
      typeof targets === 'string'
        ? `; a string target_modules is a regex over the whole module name (model.layers.N.self_attn.q_proj), as PEFT reads it: write a list (["${targets}"]) to name modules`
        : '';
    refuse(`adapts no module of this model (check target_modules, exclude_modules and layers_to_transform)${hint}`, 'adapter/targets');
  }
  const targetNames = PROJECTIONS.filter((p) => [...modules.values()].some((m) => m.name === p));
  return { modules, targetNames, warnings };
}
