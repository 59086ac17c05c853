import path from 'node:path';
import { FormatError } from '../errors.ts';
import { tensorName } from '../llama/tensors.ts';
import { exportTensors } from './export-tensors.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { ropeInverseFrequencies } from '../llama/rope-frequencies.ts';
import { encodeFromF32 } from '../formats/dtypes.ts';
import { encodedBytes } from './encoded-pieces.ts';
import { FILE_TYPE, GgmlType, f32, str, u32, type GgufValue } from '../formats/gguf-types.ts';
import { ggufTokenizerMetadata } from '../formats/gguf-tokenizer.ts';
import { writeGguf, type GgufTensorToWrite } from '../formats/gguf-writer.ts';
import { exportPool, type ExportPoolOptions } from './export-pool.ts';
import { Q8_0_BLOCK } from '../formats/q8-0.ts';
import { moveRopeRows } from './rope-rows.ts';
import type { TensorSource } from '../formats/tensor-source.ts';

export type GgufFileType = keyof typeof FILE_TYPE;

export interface GgufTensorReport {
  name: string;
  type: string;
  shape: number[];
  /** Quantization error against the f32 weights (F16 and Q8_0 tensors). */
  maxAbsError?: number;
  meanAbsError?: number;
}

export interface GgufExportReport {
  file: string;
  fileType: GgufFileType;
  bytes: number;
  tensors: GgufTensorReport[];
}

/**
 * HF's rotate-half q/k rows back to the interleaved RoPE layout llama.cpp uses:
 * w.reshape(heads, 2, rows/heads/2, cols).swapaxes(1, 2).reshape(rows, cols).
 */
export function permuteForInterleavedRope(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  return moveRopeRows(w, rows, cols, heads, 'to-interleaved');
}

/** The inverse: interleaved rows → HF rotate-half (used by tests and the state-dict round trip). */
export function permuteToRotateHalf(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  return moveRopeRows(w, rows, cols, heads, 'to-rotate-half');
}

function llamaKvs(config: LlamaConfig, fileType: GgufFileType, name: string): [string, GgufValue][] {
  if (config.modelType !== 'llama' && config.modelType !== 'mistral') {
    throw new FormatError(`GGUF export supports LLaMA and Mistral models; this one is ${config.modelType}`, 'config.json', 'gguf/arch');
  }
  const kvs: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[fileType])],
    ['llama.context_length', u32(config.maxPositions)],
    ['llama.embedding_length', u32(config.hiddenSize)],
    ['llama.block_count', u32(config.numLayers)],
    ['llama.feed_forward_length', u32(config.intermediateSize)],
    ['llama.rope.dimension_count', u32(config.headDim)],
    ['llama.attention.head_count', u32(config.numHeads)],
    ['llama.attention.head_count_kv', u32(config.numKvHeads)],
    ['llama.attention.layer_norm_rms_epsilon', f32(config.rmsNormEps)],
    ['llama.rope.freq_base', f32(config.ropeTheta)],
    ['llama.vocab_size', u32(config.vocabSize)],
  ];
  if (config.headDim !== config.hiddenSize / config.numHeads) {
    kvs.push(['llama.attention.key_length', u32(config.headDim)], ['llama.attention.value_length', u32(config.headDim)]);
  }
  if (config.ropeScaling.kind === 'linear') {
    kvs.push(['llama.rope.scaling.type', str('linear')], ['llama.rope.scaling.factor', f32(config.ropeScaling.factor)]);
  }
  if (fileType === 'q8_0') kvs.push(['general.quantization_version', u32(2)]);
  return kvs;
}

/**
 * Export a LLaMA checkpoint to GGUF (F32, F16 or Q8_0), streamed in pieces of rows that worker threads merge,
 * permute and quantize while earlier ones are written (`threads`; see exportPool). 1-D norms stay F32;
 * a 2-D tensor whose rows are not a multiple of 32 long falls back to F16 in a Q8_0 file, as llama.cpp's
 * converter does. Every quantized tensor's error is measured and returned.
 */
export async function exportLlamaGguf(
  source: TensorSource,
  config: LlamaConfig,
  tokenizerDir: string,
  outFile: string,
  opts: {
    fileType: GgufFileType;
    name?: string;
    chatTemplate?: string;
    onProgress?: (done: number, total: number, tensor: string) => void;
  } & ExportPoolOptions,
): Promise<GgufExportReport> {
  const kvs = [
    ...llamaKvs(config, opts.fileType, opts.name ?? path.basename(tokenizerDir)),
    ...ggufTokenizerMetadata(tokenizerDir, config.vocabSize),
  ];
  const has = (key: string) => kvs.some(([k]) => k === key);
  if (opts.chatTemplate !== undefined) {
    // The caller's template wins over tokenizer_config.json's.
    const at = kvs.findIndex(([k]) => k === 'tokenizer.chat_template');
    if (at >= 0) kvs.splice(at, 1);
    kvs.push(['tokenizer.chat_template', str(opts.chatTemplate)]);
  }
  // Special ids the tokenizer files do not name come from config.json.
  if (!has('tokenizer.ggml.bos_token_id') && config.bosTokenId !== undefined)
    kvs.push(['tokenizer.ggml.bos_token_id', u32(config.bosTokenId)]);
  if (!has('tokenizer.ggml.eos_token_id') && config.eosTokenIds.length > 0)
    kvs.push(['tokenizer.ggml.eos_token_id', u32(config.eosTokenIds[0])]);
  const exported = exportTensors(source, config, tokenizerDir);
  const report: GgufTensorReport[] = [];
  let done = 0;
  const names = exported.map((t) => t.name);
  // Q8_0 files keep some tensors F16 (rows not a multiple of 32): 2 bytes a value at most, 4 in an F32 file.
  const work = { tensors: exported, encodedBytesPerValue: opts.fileType === 'f32' ? 4 : 2 };
  const { pool, release } = await exportPool(work, opts);
  try {
    const tensors: GgufTensorToWrite[] = exported.map(({ name: hf, shape, ropeHeads }) => {
      const type = chooseType(shape, opts.fileType);
      const entry: GgufTensorReport = { name: tensorName(hf, 'gguf'), type: GgmlType[type], shape };
      report.push(entry);
      // q and k rows (and biases) go back to interleaved RoPE, head by head: each piece holds whole heads.
      const to = type === GgmlType.F32 ? 'F32' : type === GgmlType.F16 ? 'F16' : 'Q8_0';
      const tally = type !== GgmlType.F32;
      const spec = { to, tally, ropeHeads, pieceValues: opts.pieceValues } as const;
      return {
        name: entry.name,
        shape,
        type,
        data: () =>
          encodedBytes(source, hf, pool, spec, (t) =>
            Object.assign(entry, { maxAbsError: t.max, meanAbsError: t.count ? t.sum / t.count : 0 }),
          ),
      };
    });
    if (config.ropeScaling.kind === 'llama3') {
      // llama.cpp applies Llama-3 scaling through a per-frequency divisor tensor.
      const plain = ropeInverseFrequencies({ ...config, ropeScaling: { kind: 'none' } });
      const scaled = ropeInverseFrequencies(config);
      const factors = Float32Array.from(plain, (p, i) => p / scaled[i]);
      tensors.push({ name: 'rope_freqs.weight', shape: [factors.length], type: GgmlType.F32, data: () => encodeFromF32(factors, 'F32') });
      report.push({ name: 'rope_freqs.weight', type: 'F32', shape: [factors.length] });
    }
    const { bytes } = await writeGguf(outFile, kvs, tensors, {
      lookahead: pool.lookahead,
      onWritten: (piece) => pool.slots.releaseBytes(piece),
      onTensorWritten: (i) => {
        if (i < names.length) opts.onProgress?.(++done, names.length, names[i]);
      },
    });
    return { file: outFile, fileType: opts.fileType, bytes, tensors: report };
  } finally {
    await release();
  }
}

function chooseType(shape: number[], fileType: GgufFileType): GgmlType {
  if (shape.length < 2 || fileType === 'f32') return GgmlType.F32;
  if (fileType === 'q8_0' && shape[shape.length - 1] % Q8_0_BLOCK === 0) return GgmlType.Q8_0;
  return GgmlType.F16;
}
