import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { describeGgufChecks, verifyGguf } from '../../main/engine/export/gguf-verify.ts';
import { exportHfCheckpoint, type ExportDtype } from '../../main/engine/export/hf-export.ts';
import { exportInt8 } from '../../main/engine/export/int8.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { exportStateDict } from '../../main/engine/export/state-dict.ts';
import { decodeToF32 } from '../../main/engine/formats/dtypes.ts';
import { exportLlamaGguf, ggufTensorName, type GgufFileType } from '../../main/engine/export/gguf-llama.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { ADAPTER_WEIGHTS, peftKey } from '../../main/engine/formats/peft-adapter.ts';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';
import { TINY_ALPHABET, writeSpmTokenizerWithMerges } from '../helpers/synthetic.ts';

/**
 * The exports' bytes are pinned: SHA-256 of every file each export writes, so any speed change must leave them
 * identical. Each pin stands on checks made first, on the same files, against a merge computed here: every tensor
 * read back (the spec-checking safetensors reader, @huggingface/gguf's offsets with Q8_0 blocks decoded here) equals
 * W + (α/r)·B·A to the export dtype's rounding, q and k rows permuted as FORMATS.md writes it for GGUF and Meta's
 * layout, and each GGUF loads and generates in llama.cpp. The model is a small bf16 sharded checkpoint from the
 * project's generator, with a character tokenizer (no ../shared needed), and a non-zero LoRA adapter on q, k and v
 * (so the RoPE permutation of merged rows is covered); `pieceValues` is set low so every tensor is cut into many pieces.
 * Every export runs twice, encoding on its own thread and on two worker threads (pieces merged, permuted and quantized
 * out of order, written in order): both must give the pinned bytes, so the checks made on the first hold for the
 * second. The int8 hashes were recorded with int8.ts before it streamed (whole tensors).
 */
const work = mkdtempSync(path.join(tmpdir(), 'export-bytes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const shape = {
  hidden_size: 256,
  intermediate_size: 704,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  tie_word_embeddings: false,
};
const R = 4;
const ALPHA = 8;
const TARGETS = ['q_proj', 'k_proj', 'v_proj'] as const;
const PIECE_VALUES = 5000; // ~20 rows of 256: pieces end inside heads' row groups unless the exporter keeps them whole
/** Worker threads: 0 encodes on the test's own thread (the serial path), 2 on a pool of workers (the parallel path). */
const THREADS = [0, 2];
const both = <T>(cases: T[]) => cases.flatMap((c) => THREADS.map((threads) => [c, threads] as const));

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
function folderHashes(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .filter((f) => f !== 'verification.json')
      .sort()
      .map((f) => [f, sha(path.join(dir, f))]),
  );
}

/** W + (α/r)·B·A in f64 from the base's and the adapter's raw tensors, rounded once to f32: what every export must hold. */
async function referenceMerge(baseDir: string, adapterDir: string): Promise<Map<string, { values: Float32Array; shape: number[] }>> {
  const base = await openCheckpoint(baseDir);
  const adapter = await openSafetensors(path.join(adapterDir, ADAPTER_WEIGHTS));
  const out = new Map<string, { values: Float32Array; shape: number[] }>();
  try {
    for (const t of base.list()) {
      const w = await base.readF32(t.name);
      const m = /^model\.layers\.(\d+)\.self_attn\.(q_proj|k_proj|v_proj)\.weight$/.exec(t.name);
      if (m) {
        const key = peftKey(Number(m[1]), m[2] as (typeof TARGETS)[number]);
        const a = await adapter.readF32(`${key}.lora_A.weight`); // [r, in]
        const b = await adapter.readF32(`${key}.lora_B.weight`); // [out, r]
        const [rows, cols] = t.shape;
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            let d = 0;
            for (let k = 0; k < R; k++) d += b[i * R + k] * a[k * cols + j];
            w[i * cols + j] = w[i * cols + j] + (ALPHA / R) * d;
          }
      }
      out.set(t.name, { values: w, shape: t.shape });
    }
  } finally {
    await base.close();
    await adapter.close();
  }
  return out;
}

/** FORMATS.md's permutation back to interleaved RoPE: w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2). */
function interleaved(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const perHead = rows / heads;
  const half = perHead / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (let j = 0; j < 2; j++) {
        const from = h * perHead + j * half + i; // [h, j, i] of (heads, 2, half)
        const to = h * perHead + 2 * i + j; // [h, i, j] after swapaxes(1, 2)
        out.set(w.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
}

/** The reference as a layout stores it: q and k permuted for GGUF and Meta's layout, as is for HF. */
function expected(ref: Map<string, { values: Float32Array; shape: number[] }>, hf: string, permute: boolean): Float32Array {
  const { values, shape: dims } = ref.get(hf)!;
  const heads = hf.endsWith('q_proj.weight') ? shape.num_attention_heads : hf.endsWith('k_proj.weight') ? shape.num_key_value_heads : 0;
  return permute && heads ? interleaved(values, dims[0], dims[1], heads) : values;
}

type Rounding = 'f32' | 'f16' | 'bf16' | 'q8_0';
/** Largest error each storage may add to a value: half an ulp (relative) for floats; for Q8_0 see blockTolerance. */
const RELATIVE: Record<Exclude<Rounding, 'q8_0'>, number> = { f32: 2 ** -22, f16: 2 ** -11, bf16: 2 ** -8 };

/** The largest |got − want| over a tensor, and how many values were outside the storage's rounding. */
function compare(got: Float32Array, want: Float32Array, rounding: Rounding): { maxAbs: number; outside: number } {
  let maxAbs = 0;
  let outside = 0;
  for (let at = 0; at < want.length; at += 32) {
    // Q8_0: a block's step is its absmax / 127, its scale stored as f16; a value is off by at most half a step (+ the scale's rounding).
    let blockMax = 0;
    if (rounding === 'q8_0') for (let i = at; i < at + 32; i++) blockMax = Math.max(blockMax, Math.abs(want[i]));
    for (let i = at; i < Math.min(at + 32, want.length); i++) {
      const err = Math.abs(got[i] - want[i]);
      const tol = rounding === 'q8_0' ? 0.6 * (blockMax / 127) + 1e-7 : RELATIVE[rounding] * Math.abs(want[i]) + 2 ** -24;
      maxAbs = Math.max(maxAbs, err);
      if (!(err <= tol)) outside++;
    }
  }
  return { maxAbs, outside };
}

/** Every tensor of a GGUF file, located by @huggingface/gguf and decoded here (F32, F16, Q8_0 as FORMATS.md gives them). */
async function ggufTensors(file: string): Promise<Map<string, Float32Array>> {
  const { tensorInfos, tensorDataOffset } = await gguf(file, { allowLocalFile: true });
  const bytes = readFileSync(file);
  const out = new Map<string, Float32Array>();
  for (const t of tensorInfos) {
    const count = t.shape.reduce((a, b) => a * Number(b), 1);
    const at = Number(tensorDataOffset + t.offset);
    if (t.dtype === 0) out.set(t.name, decodeToF32(bytes.subarray(at, at + 4 * count), 'F32'));
    else if (t.dtype === 1) out.set(t.name, decodeToF32(bytes.subarray(at, at + 2 * count), 'F16'));
    else if (t.dtype === 8) {
      const values = new Float32Array(count);
      for (let blk = 0; blk < count / 32; blk++) {
        const d = decodeToF32(bytes.subarray(at + 34 * blk, at + 34 * blk + 2), 'F16')[0];
        for (let i = 0; i < 32; i++) values[blk * 32 + i] = d * ((bytes[at + 34 * blk + 2 + i] << 24) >> 24);
      }
      out.set(t.name, values);
    } else throw new Error(`${t.name}: ggml type ${t.dtype} is not one this test decodes`);
  }
  return out;
}

describe('export bytes are unchanged by the streaming exporters', () => {
  const base = path.join(work, 'base');
  const adapter = path.join(work, 'adapter');
  let ref: Map<string, { values: Float32Array; shape: number[] }>;

  beforeAll(async () => {
    await writeSyntheticModel(base, shape, { alphabet: TINY_ALPHABET }, { dtype: 'BF16', maxShardBytes: 1_000_000 });
    await writeSyntheticAdapter(adapter, base, { r: R, alpha: ALPHA, targetModules: TARGETS, seed: 11 });
    ref = await referenceMerge(base, adapter);
    // The merge must move q, k and v by far more than any rounding below, or the checks could not tell merged from unmerged.
    const baseSource = await openCheckpoint(base);
    const k = await baseSource.readF32('model.layers.1.self_attn.k_proj.weight');
    await baseSource.close();
    expect(compare(ref.get('model.layers.1.self_attn.k_proj.weight')!.values, k, 'bf16').outside).toBeGreaterThan(k.length * 0.9);
  });

  const HF: Record<ExportDtype, Record<string, string>> = {
    f16: {
      'config.json': 'e137dc22dbb6f684',
      'generation_config.json': '720858ddb18cc6e5',
      'model-00001-of-00010.safetensors': '943004a85645079c',
      'model-00002-of-00010.safetensors': 'c76425ed7e412b8c',
      'model-00003-of-00010.safetensors': 'd9d7ba3925d6364f',
      'model-00004-of-00010.safetensors': '7b58ceb16c783948',
      'model-00005-of-00010.safetensors': 'a98941c2477e4d87',
      'model-00006-of-00010.safetensors': '9341cc89fff778a4',
      'model-00007-of-00010.safetensors': 'ab3869ddfb5adba3',
      'model-00008-of-00010.safetensors': '42b7929b8fa3acfd',
      'model-00009-of-00010.safetensors': '36785aa28e4f8b7f',
      'model-00010-of-00010.safetensors': 'b353f4ded0f57957',
      'model.safetensors.index.json': 'a4c569177672080f',
      'tokenizer.json': '9fc1876b33344484',
      'tokenizer_config.json': 'b60b41290e4e5815',
    },
    bf16: {
      'config.json': '4ce42a58567d117d',
      'generation_config.json': '720858ddb18cc6e5',
      'model-00001-of-00010.safetensors': '0fcfca51acb4ec29',
      'model-00002-of-00010.safetensors': '80e7f744b672efd2',
      'model-00003-of-00010.safetensors': 'd6018c429b56fafe',
      'model-00004-of-00010.safetensors': 'b3e4b40c0876ad39',
      'model-00005-of-00010.safetensors': '47197482fdcbf57e',
      'model-00006-of-00010.safetensors': '50b1107df9b0696f',
      'model-00007-of-00010.safetensors': '9fbacc6449f6b659',
      'model-00008-of-00010.safetensors': '8b6aa9ab8301f9db',
      'model-00009-of-00010.safetensors': '52f20e752dee302b',
      'model-00010-of-00010.safetensors': 'c45cad4e2a42d097',
      'model.safetensors.index.json': 'a4c569177672080f',
      'tokenizer.json': '9fc1876b33344484',
      'tokenizer_config.json': 'b60b41290e4e5815',
    },
    f32: {
      'config.json': '6ade9fcd40aed89a',
      'generation_config.json': '720858ddb18cc6e5',
      'model-00001-of-00013.safetensors': 'e103c40056beaca3',
      'model-00002-of-00013.safetensors': '06c16a2f5bbd985a',
      'model-00003-of-00013.safetensors': '56a396f2bcc76fb9',
      'model-00004-of-00013.safetensors': 'a12c0bbceff31832',
      'model-00005-of-00013.safetensors': '12ffd441a21caebd',
      'model-00006-of-00013.safetensors': 'c9ece7eaa948b7c4',
      'model-00007-of-00013.safetensors': '97ac5346861e3f88',
      'model-00008-of-00013.safetensors': '8a1fd0efcff3c352',
      'model-00009-of-00013.safetensors': '500e3460e1b65d00',
      'model-00010-of-00013.safetensors': 'd61bc263b4b3c743',
      'model-00011-of-00013.safetensors': '0023242f6360500b',
      'model-00012-of-00013.safetensors': '78d5c25d8354e4f3',
      'model-00013-of-00013.safetensors': 'b6f36638e411ff54',
      'model.safetensors.index.json': 'f0eceac472df5fee',
      'tokenizer.json': '9fc1876b33344484',
      'tokenizer_config.json': 'b60b41290e4e5815',
    },
  };
  it.each(both(Object.keys(HF) as ExportDtype[]))('merge → HF shards (%s, %i worker threads)', async (dtype, threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `hf-${dtype}-${threads}`);
    try {
      await exportHfCheckpoint({
        source: input.source,
        config: input.config,
        baseDir: base,
        outDir: out,
        maxShardSize: 400_000,
        dtype,
        pieceValues: PIECE_VALUES,
        threads,
      });
    } finally {
      await input.source.close();
    }
    // On workers: the same bytes as the export on this thread, whose files are checked below.
    if (threads) return expect(folderHashes(out)).toEqual(HF[dtype]);
    const written = await openCheckpoint(out);
    try {
      expect(written.list().map((t) => t.name)).toEqual([...ref.keys()].sort());
      for (const t of written.list()) {
        expect(t.dtype).toBe(dtype.toUpperCase());
        expect({ name: t.name, outside: compare(await written.readF32(t.name), expected(ref, t.name, false), dtype).outside }).toEqual({
          name: t.name,
          outside: 0,
        });
      }
    } finally {
      await written.close();
    }
    expect(folderHashes(out)).toEqual(HF[dtype]);
  });

  const GGUF: Record<GgufFileType, { file: string; report: string }> = {
    q8_0: { file: '686ca8a57faae9b9', report: '4924d9efa5f9054a' },
    f16: { file: '81d79f1daec1512e', report: 'a2e1a3db61d571bb' },
    f32: { file: '9a1748a8e7237ca2', report: 'ec29b36577265abf' },
  };
  it.each(both(Object.keys(GGUF) as GgufFileType[]))(
    'merge → GGUF %s, with its per-tensor error report; llama.cpp loads it (%i worker threads)',
    async (fileType, threads) => {
      const input = await openExportInput(base, adapter);
      const out = path.join(work, `model-${fileType}-${threads}.gguf`);
      let report;
      try {
        report = await exportLlamaGguf(input.source, input.config, base, out, {
          fileType,
          name: 'bytes',
          pieceValues: PIECE_VALUES,
          threads,
        });
      } finally {
        await input.source.close();
      }
      const pinned = () =>
        expect({ file: sha(out), report: createHash('sha256').update(JSON.stringify(report.tensors)).digest('hex').slice(0, 16) }).toEqual(
          GGUF[fileType],
        );
      // On workers: the same bytes and report as the export on this thread, whose file is checked below.
      if (threads) return pinned();
      const verification = describeGgufChecks(await verifyGguf(out, report.tensors.length));
      expect(verification.llamaCpp).toMatch(/^loaded in llama\.cpp and generated \d+ tokens/);
      const tensors = await ggufTensors(out);
      expect(tensors.size).toBe(ref.size);
      for (const hf of ref.keys()) {
        const rounding = ref.get(hf)!.shape.length === 1 ? 'f32' : fileType; // norms stay F32
        expect({ hf, outside: compare(tensors.get(ggufTensorName(hf))!, expected(ref, hf, true), rounding).outside }).toEqual({
          hf,
          outside: 0,
        });
      }
      pinned();
    },
  );

  it.each(THREADS)("merge → Meta's state dict (f16, q/k permuted back; %i worker threads)", async (threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `state-dict-${threads}`);
    try {
      await exportStateDict({ source: input.source, config: input.config, outDir: out, dtype: 'f16', pieceValues: PIECE_VALUES, threads });
    } finally {
      await input.source.close();
    }
    const pinned = () =>
      expect(folderHashes(out)).toEqual({ 'consolidated.00.safetensors': '47c6f9948b782082', 'params.json': '32644bce74103107' });
    if (threads) return pinned(); // the same bytes as the export on this thread, whose file is checked below
    // Meta's names, straight from FORMATS.md.
    const file = await openSafetensors(path.join(out, 'consolidated.00.safetensors'));
    try {
      const checks: [string, string][] = [
        ['tok_embeddings.weight', 'model.embed_tokens.weight'],
        ['output.weight', 'lm_head.weight'],
        ['norm.weight', 'model.norm.weight'],
      ];
      for (let l = 0; l < shape.num_hidden_layers; l++) {
        checks.push(
          [`layers.${l}.attention.wq.weight`, `model.layers.${l}.self_attn.q_proj.weight`],
          [`layers.${l}.attention.wk.weight`, `model.layers.${l}.self_attn.k_proj.weight`],
          [`layers.${l}.attention.wv.weight`, `model.layers.${l}.self_attn.v_proj.weight`],
          [`layers.${l}.feed_forward.w1.weight`, `model.layers.${l}.mlp.gate_proj.weight`],
          [`layers.${l}.feed_forward.w2.weight`, `model.layers.${l}.mlp.down_proj.weight`],
          [`layers.${l}.attention_norm.weight`, `model.layers.${l}.input_layernorm.weight`],
        );
      }
      for (const [meta, hf] of checks)
        expect({ meta, outside: compare(await file.readF32(meta), expected(ref, hf, true), 'f16').outside }).toEqual({ meta, outside: 0 });
    } finally {
      await file.close();
    }
    pinned();
  });

  it.each(THREADS)('merge → int8 (bitsandbytes layout), with its per-projection error report (%i worker threads)', async (threads) => {
    const input = await openExportInput(base, adapter);
    const out = path.join(work, `int8-${threads}`);
    let r;
    try {
      r = await exportInt8({ source: input.source, config: input.config, baseDir: base, outDir: out, pieceValues: PIECE_VALUES, threads });
    } finally {
      await input.source.close();
    }
    expect(folderHashes(out)).toEqual({
      'config.json': '95c45f4a6fcac6ee',
      'generation_config.json': '720858ddb18cc6e5',
      'model.safetensors': '45c57bf61001871f',
      'tokenizer.json': '9fc1876b33344484',
      'tokenizer_config.json': 'b60b41290e4e5815',
    });
    expect(createHash('sha256').update(JSON.stringify(r.errors)).digest('hex').slice(0, 16)).toBe('71ed994a4eea07be');
    expect(r.worstStepFraction).toBe(0.5000014754961122);
  });

  // A SentencePiece-style tokenizer with merges exercises what the character tokenizer cannot: GGUF scores ordered by
  // the merge list. Same weights and adapter, so only the metadata differs.
  it('merge → GGUF Q8_0 with a SentencePiece tokenizer with merges; llama.cpp loads it', async () => {
    const tokenizerDir = path.join(work, 'spm-merges');
    writeSpmTokenizerWithMerges(tokenizerDir);
    const realBase = path.join(work, 'base-spm-merges');
    await writeSyntheticModel(realBase, shape, { copyFrom: tokenizerDir }, { dtype: 'BF16', maxShardBytes: 1_000_000 });
    const input = await openExportInput(realBase, adapter);
    const out = path.join(work, 'model-spm-merges.gguf');
    let report;
    try {
      report = await exportLlamaGguf(input.source, input.config, realBase, out, {
        fileType: 'q8_0',
        name: 'bytes',
        pieceValues: PIECE_VALUES,
      });
    } finally {
      await input.source.close();
    }
    expect(describeGgufChecks(await verifyGguf(out, report.tensors.length)).llamaCpp).toMatch(
      /^loaded in llama\.cpp and generated \d+ tokens/,
    );
    // The merged pieces' scores follow the merge list's ranks: '▁t' before 'he' before '▁the' ...
    const meta = (await readGguf(out)).metadata;
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const scores = meta.get('tokenizer.ggml.scores') as number[];
    const ranked = ['▁t', 'he', '▁the', 'in', '▁a'].map((piece) => scores[tokens.indexOf(piece)]);
    expect(ranked).toEqual([...ranked].sort((a, b) => b - a));
    expect(new Set(ranked).size).toBe(ranked.length);
    const tensors = await ggufTensors(out);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(compare(tensors.get(ggufTensorName(q))!, expected(ref, q, true), 'q8_0').outside).toBe(0);
    expect(sha(out)).toBe('54088a6e6d683a6b');
  });
});
