import { existsSync, writeFileSync } from 'node:fs';
import { copyRegularFileSync } from '../fs/regular-file.ts';
import path from 'node:path';
import { DTYPE_BYTES } from '../formats/dtypes.ts';
import { encodedBytes, rawPieces } from './encoded-pieces.ts';
import { INDEX_FILE, openCheckpoint, shardFileName, SINGLE_FILE } from '../formats/hf-checkpoint.ts';
import { exportPool, type ExportPoolOptions } from './export-pool.ts';
import type { PiecePool } from './piece-pool.ts';
import { writeSafetensors } from '../formats/safetensors.ts';
import { PIECE_VALUES } from './tensor-pieces.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { withAtomicDir, type AtomicOutputOptions } from '../fs/atomic-dir.ts';
import { MergedSource } from './merged-source.ts';
import { planShards } from './shard-size.ts';
import { exportTensors } from './export-tensors.ts';

export type ExportDtype = 'f32' | 'f16' | 'bf16';
const SAFETENSORS_DTYPE = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;
const TORCH_DTYPE = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' } as const;
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model'];

export interface ExportProgress {
  (done: number, total: number, tensor: string): void;
}

/** What every folder export takes: the (merged) tensors and their config, the new folder, progress and the pool. */
export interface FolderExportOptions<R> extends ExportPoolOptions {
  source: TensorSource;
  config: LlamaConfig;
  outDir: string;
  onProgress?: ExportProgress;
  /** The lock's command, and what else goes into the folder before it appears (the verification report). */
  atomic?: AtomicOutputOptions<R>;
}

export interface HfExportReport {
  outDir: string;
  dtype: ExportDtype;
  shards: { file: string; bytes: number; tensors: number }[];
  totalSize: number;
  tensors: number;
}

/**
 * Write a Hugging Face checkpoint: shards of at most `maxShardSize` bytes, the index when there is more than one,
 * config.json (torch_dtype updated), generation_config.json and the tokenizer files. Tensors are streamed in pieces of
 * rows, merged and converted on worker threads (`threads`; see exportPool) while earlier pieces are written. The
 * folder appears only when complete, and is checked by reopening it first.
 */
export async function exportHfCheckpoint(
  opts: FolderExportOptions<HfExportReport> & { baseDir: string; maxShardSize: number; dtype: ExportDtype },
): Promise<HfExportReport> {
  const { source, config, dtype } = opts;
  const stDtype = SAFETENSORS_DTYPE[dtype];
  const tensors = exportTensors(source, config, opts.baseDir).map((t) => ({
    ...t,
    bytes: t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[stDtype],
  }));
  const shards = planShards(tensors, opts.maxShardSize);
  const names = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => shardFileName(i, shards.length));
  let done = 0;
  const { pool, release } = await exportPool({ tensors, encodedBytesPerValue: DTYPE_BYTES[stDtype] }, opts);
  try {
    return await withAtomicDir(opts.outDir, opts.atomic ?? {}, async (dir) => {
      const weightMap: Record<string, string> = {};
      for (let s = 0; s < shards.length; s++) {
        await writeSafetensors(
          path.join(dir, names[s]),
          shards[s].map((t) => ({
            name: t.name,
            dtype: stDtype,
            shape: t.shape,
            data: () => tensorPieces(source, t.name, t.dtype, stDtype, pool, opts.pieceValues ?? PIECE_VALUES),
          })),
          {
            metadata: { format: 'pt' },
            syncedByFolder: true, // withAtomicDir fsyncs the shards at the end: none waits for the one before it
            lookahead: pool.lookahead,
            onWritten: (piece) => pool.slots.releaseBytes(piece),
            hooks: { afterTensor: (name) => opts.onProgress?.(++done, tensors.length, name) },
          },
        );
        for (const t of shards[s]) weightMap[t.name] = names[s];
      }
      const totalSize = tensors.reduce((n, t) => n + t.bytes, 0);
      if (shards.length > 1)
        writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config.raw, torch_dtype: TORCH_DTYPE[dtype] }, null, 2));
      writeGenerationConfig(opts.baseDir, dir, config);
      for (const f of TOKENIZER_FILES)
        if (existsSync(path.join(opts.baseDir, f))) copyRegularFileSync(path.join(opts.baseDir, f), path.join(dir, f));
      // Reopen with the spec-checking reader (headers, index totals, shard membership) before the folder goes live.
      const check = await openCheckpoint(dir);
      const count = check.list().length;
      await check.close();
      if (count !== tensors.length) throw new Error(`export check: ${count} tensors reopened, ${tensors.length} written`);
      return {
        outDir: opts.outDir,
        dtype,
        shards: shards.map((sh, i) => ({ file: names[i], bytes: sh.reduce((n, t) => n + t.bytes, 0), tensors: sh.length })),
        totalSize,
        tensors: tensors.length,
      };
    });
  } finally {
    await release();
  }
}

/**
 * A tensor's bytes in the output dtype, a piece of rows at a time (memory holds a few pieces, not the tensor):
 * untouched tensors already in that dtype are copied as stored; the others are merged and converted by the pool.
 */
function tensorPieces(source: TensorSource, name: string, from: string, to: 'F32' | 'F16' | 'BF16', pool: PiecePool, pieceValues: number) {
  const merged = source instanceof MergedSource && source.isMerged(name);
  if (from === to && !merged) return rawPieces(source, name, pool, pieceValues);
  return encodedBytes(source, name, pool, { to, pieceValues });
}

export function writeGenerationConfig(baseDir: string, outDir: string, config: LlamaConfig): void {
  const existing = path.join(baseDir, 'generation_config.json');
  if (existsSync(existing)) copyRegularFileSync(existing, path.join(outDir, 'generation_config.json'));
  else {
    const eos = config.eosTokenIds.length === 1 ? config.eosTokenIds[0] : config.eosTokenIds;
    writeFileSync(
      path.join(outDir, 'generation_config.json'),
      JSON.stringify({ bos_token_id: config.bosTokenId, eos_token_id: eos }, null, 2),
    );
  }
}
