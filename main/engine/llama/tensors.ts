import { FormatError } from '../errors.ts';
import type { LlamaConfig } from './config.ts';
import { projectionShape, type ProjectionName } from './projections.ts';
import type { TensorListing } from './tensor-listing.ts';

// Every tensor of a LLaMA checkpoint: its name in each file format, the shape config.json implies, and the one check
// of a checkpoint's tensors against its config that the model loader, inspect and every exporter use. No tfjs here.

/** The formats a tensor is named in: Hugging Face (transformers), llama.cpp's GGUF, Meta's original state dict. */
type TensorFormat = 'hf' | 'gguf' | 'meta';

export interface TensorPart {
  /** The name in each format; `{n}` stands for the layer. Meta's layout has no attention biases (its code has none). */
  hf: string;
  gguf: string;
  meta?: string;
  /** The shape config.json implies, [out, in] for a matrix. */
  shape(c: LlamaConfig): number[];
  /** Whether a checkpoint of this config holds it (all but the optional parts). */
  present?(c: LlamaConfig): boolean;
  /**
   * q and k (weights and biases): their rows go from HF's rotate-half RoPE layout to the interleaved one of GGUF and
   * Meta's checkpoints, head by head; this is the number of heads.
   */
  ropeHeads?(c: LlamaConfig): number;
}

const hidden = (c: LlamaConfig) => [c.hiddenSize];
const vocab = (c: LlamaConfig) => [c.vocabSize, c.hiddenSize];
const matrix = (p: ProjectionName) => (c: LlamaConfig) => projectionShape(c, p);
const bias = (p: ProjectionName) => (c: LlamaConfig) => [projectionShape(c, p)[0]];
const biased = (p: ProjectionName) => ({ present: (c: LlamaConfig) => c.attentionBiases.includes(p) });
const qRope = { ropeHeads: (c: LlamaConfig) => c.numHeads };
const kRope = { ropeHeads: (c: LlamaConfig) => c.numKvHeads };
const untied = { present: (c: LlamaConfig) => !c.tieWordEmbeddings };

const part = (hf: string, gguf: string, meta: string | undefined, shape: TensorPart['shape'], ...more: Partial<TensorPart>[]): TensorPart =>
  Object.assign({ hf, gguf, meta, shape }, ...more);

/**
 * One row per part, in the order transformers lists a checkpoint (and the synthetic models write theirs). GGUF names
 * are llama.cpp's `llama` architecture (llama-arch.cpp; it loads the four attention biases when present); Meta's are
 * those of Meta's llama repository, as Alpaca-LoRA's export_state_dict_checkpoint.py writes them (w1 = gate, w2 =
 * down, w3 = up). Meta's checkpoints always carry output.weight: a tied model's is its embedding (state-dict.ts).
 */
// prettier-ignore
const LLAMA_TENSORS: readonly TensorPart[] = [
  //   Hugging Face                                       GGUF                          Meta state dict
  part('model.embed_tokens.weight',                       'token_embd.weight',          'tok_embeddings.weight',              vocab),
  part('model.layers.{n}.input_layernorm.weight',         'blk.{n}.attn_norm.weight',   'layers.{n}.attention_norm.weight',   hidden),
  part('model.layers.{n}.post_attention_layernorm.weight','blk.{n}.ffn_norm.weight',    'layers.{n}.ffn_norm.weight',         hidden),
  part('model.layers.{n}.self_attn.q_proj.weight',        'blk.{n}.attn_q.weight',      'layers.{n}.attention.wq.weight',     matrix('q_proj'), qRope),
  part('model.layers.{n}.self_attn.q_proj.bias',          'blk.{n}.attn_q.bias',        undefined,                            bias('q_proj'), qRope, biased('q_proj')),
  part('model.layers.{n}.self_attn.k_proj.weight',        'blk.{n}.attn_k.weight',      'layers.{n}.attention.wk.weight',     matrix('k_proj'), kRope),
  part('model.layers.{n}.self_attn.k_proj.bias',          'blk.{n}.attn_k.bias',        undefined,                            bias('k_proj'), kRope, biased('k_proj')),
  part('model.layers.{n}.self_attn.v_proj.weight',        'blk.{n}.attn_v.weight',      'layers.{n}.attention.wv.weight',     matrix('v_proj')),
  part('model.layers.{n}.self_attn.v_proj.bias',          'blk.{n}.attn_v.bias',        undefined,                            bias('v_proj'), biased('v_proj')),
  part('model.layers.{n}.self_attn.o_proj.weight',        'blk.{n}.attn_output.weight', 'layers.{n}.attention.wo.weight',     matrix('o_proj')),
  part('model.layers.{n}.self_attn.o_proj.bias',          'blk.{n}.attn_output.bias',   undefined,                            bias('o_proj'), biased('o_proj')),
  part('model.layers.{n}.mlp.gate_proj.weight',           'blk.{n}.ffn_gate.weight',    'layers.{n}.feed_forward.w1.weight',  matrix('gate_proj')),
  part('model.layers.{n}.mlp.up_proj.weight',             'blk.{n}.ffn_up.weight',      'layers.{n}.feed_forward.w3.weight',  matrix('up_proj')),
  part('model.layers.{n}.mlp.down_proj.weight',           'blk.{n}.ffn_down.weight',    'layers.{n}.feed_forward.w2.weight',  matrix('down_proj')),
  part('model.norm.weight',                               'output_norm.weight',         'norm.weight',                        hidden),
  part('lm_head.weight',                                  'output.weight',              'output.weight',                      vocab, untied),
];

const FORMAT_LABEL: Record<TensorFormat, string> = { hf: 'Hugging Face', gguf: 'GGUF', meta: "Meta's state-dict" };
const LAYER = /^model\.layers\.(\d+)\./;
const byHfName = new Map(LLAMA_TENSORS.map((p) => [p.hf, p]));

/** A HF tensor name's part and layer, or undefined when it is no part of a LLaMA checkpoint. */
export function tensorPart(hf: string): { part: TensorPart; layer?: number } | undefined {
  const m = LAYER.exec(hf);
  const part = byHfName.get(m ? `model.layers.{n}.${hf.slice(m[0].length)}` : hf);
  return part && { part, layer: m ? Number(m[1]) : undefined };
}

/** A HF tensor's name in another format; refused, naming the tensor, when that format has none for it. */
export function tensorName(hf: string, format: TensorFormat): string {
  const found = tensorPart(hf);
  const name = found?.part[format];
  if (!found || name === undefined)
    throw new FormatError(`no ${FORMAT_LABEL[format]} name for tensor ${hf}`, undefined, `${format}/tensor-name`);
  return name.replace('{n}', String(found.layer));
}

/** Buffers some checkpoints carry that are no weights (transformers recomputes them). */
export const isRotaryBuffer = (name: string) => name.endsWith('rotary_emb.inv_freq');

/** Every tensor name and shape a checkpoint of this config holds, in the table's order, layer by layer. */
export function expectedTensors(config: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const add = (p: TensorPart, layer?: number) => {
    if (p.present && !p.present(config)) return;
    m.set(layer === undefined ? p.hf : p.hf.replace('{n}', String(layer)), p.shape(config));
  };
  const perLayer = (p: TensorPart) => p.hf.includes('{n}');
  const firstLayerPart = LLAMA_TENSORS.findIndex(perLayer);
  for (const p of LLAMA_TENSORS.slice(0, firstLayerPart)) add(p);
  for (let l = 0; l < config.numLayers; l++) for (const p of LLAMA_TENSORS.filter(perLayer)) add(p, l);
  for (const p of LLAMA_TENSORS.slice(firstLayerPart).filter((p) => !perLayer(p))) add(p);
  return m;
}

/**
 * Problems between a checkpoint's tensors and its config: missing tensors, wrong shapes, unexpected extras.
 * Extras that are harmless (rotary inv_freq buffers, a redundant tied lm_head) are not reported.
 */
export function checkTensorsAgainstConfig(source: TensorListing, config: LlamaConfig): string[] {
  const problems: string[] = [];
  const expected = expectedTensors(config);
  for (const [name, shape] of expected) {
    if (!source.has(name)) {
      problems.push(`missing tensor ${name} (expected shape [${shape.join(', ')}])`);
      continue;
    }
    const actual = source.info(name).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${name} has shape [${actual.join(', ')}] but config.json implies [${shape.join(', ')}]`);
    }
  }
  for (const t of source.list()) {
    if (expected.has(t.name) || isRotaryBuffer(t.name)) continue;
    if (t.name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    problems.push(`unexpected tensor ${t.name} (not part of a ${config.modelType} model with this config)`);
  }
  return problems;
}

/** checkTensorsAgainstConfig as a refusal: every problem in one FormatError naming `where` (the model folder). */
export function refuseTensorsAgainstConfig(source: TensorListing, config: LlamaConfig, where?: string): void {
  const problems = checkTensorsAgainstConfig(source, config);
  if (problems.length) throw new FormatError(problems.join('; '), where, 'model/tensors');
}

/** Parameters of a model with this config (every tensor a checkpoint holds). */
export function parameterCount(config: LlamaConfig): number {
  let n = 0;
  for (const shape of expectedTensors(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
