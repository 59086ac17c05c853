import { existsSync, writeFileSync } from 'node:fs';
import { copyRegularFileSync } from '../fs/regular-file.ts';
import path from 'node:path';
import { SINGLE_FILE } from '../formats/hf-checkpoint.ts';
import { encodedBytes, encodePieces } from './encoded-pieces.ts';
import { refuseNonFiniteErrors } from './encoded-finite.ts';
import { StudioError } from '../errors.ts';
import type { PieceResult } from './piece-encode.ts';
import { exportPool } from './export-pool.ts';
import type { PiecePool } from './piece-pool.ts';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../formats/safetensors.ts';
import { PIECE_VALUES, pieceRows } from './tensor-pieces.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import { withAtomicDir } from '../fs/atomic-dir.ts';
import { TOKENIZER_FILES, writeGenerationConfig, type FolderExportOptions } from './hf-export.ts';
import { exportTensors } from './export-tensors.ts';
import { PROJECTIONS } from '../llama/projection-names.ts';

export interface QuantError {
  name: string;
  maxAbs: number;
  meanAbs: number;
}

/** The projections' weights, which bitsandbytes holds in int8 (everything else stays f16). */
const LINEAR = new RegExp(`\\.(${PROJECTIONS.join('|')})\\.weight$`);

/**
 * int8 safetensors that transformers loads with bitsandbytes: each projection as `weight` (int8), `SCB` (f32 row
 * absmax) and `weight_format` (u8 0 = row); embeddings, norms and lm_head kept f16; config.json gets the
 * quantization_config. Tensors are streamed in pieces of rows, merged and quantized on worker threads (`threads`;
 * see exportPool). Every quantized tensor's error is measured; the file is then reopened and dequantized, a piece
 * at a time, to check every weight lies within half a quantization step of the original.
 */
export interface Int8Result {
  outDir: string;
  errors: QuantError[];
  worstStepFraction: number;
}

export async function exportInt8(opts: FolderExportOptions<Int8Result> & { baseDir: string }): Promise<Int8Result> {
  const { source, config } = opts;
  const tensors = exportTensors(source, config, opts.baseDir);
  const errors: QuantError[] = [];
  let done = 0;
  const { pool, release } = await exportPool({ tensors, encodedBytesPerValue: 2 }, opts); // F16 at most
  try {
    return await withAtomicDir(opts.outDir, opts.atomic ?? {}, async (dir) => {
      const entries: TensorToWrite[] = [];
      for (const t of tensors) {
        if (LINEAR.test(t.name)) {
          const base = t.name.slice(0, -'.weight'.length);
          // SCB sorts before weight, but needs every row: the int8 rows wait (a quarter of the tensor's f32 size).
          let held: Promise<Int8Rows> | undefined;
          const quantized = () => (held ??= quantizeTensor(source, t.name, pool, opts.pieceValues));
          entries.push({
            name: `${base}.weight`,
            dtype: 'I8',
            shape: t.shape,
            data: async () => {
              const { q, error } = await quantized();
              held = undefined;
              errors.push({ name: t.name, ...error });
              opts.onProgress?.(++done, tensors.length, t.name);
              return q.map((piece) => Promise.resolve(piece));
            },
          });
          entries.push({ name: `${base}.SCB`, dtype: 'F32', shape: [t.shape[0]], data: async () => (await quantized()).scb });
          entries.push({ name: `${base}.weight_format`, dtype: 'U8', shape: [], data: Uint8Array.of(0) });
        } else {
          entries.push({
            name: t.name,
            dtype: 'F16',
            shape: t.shape,
            data: () => encodedBytes(source, t.name, pool, { to: 'F16', pieceValues: opts.pieceValues }),
          });
        }
      }
      const file = path.join(dir, SINGLE_FILE);
      await writeSafetensors(file, entries, {
        metadata: { format: 'pt' },
        lookahead: pool.lookahead,
        onWritten: (piece) => pool.slots.releaseBytes(piece),
        hooks: {
          // Projections count when quantized (above); the f16 tensors when written.
          afterTensor: (name) => {
            if (source.has(name) && !LINEAR.test(name)) opts.onProgress?.(++done, tensors.length, name);
          },
        },
      });
      const quantization_config = {
        quant_method: 'bitsandbytes',
        load_in_8bit: true,
        load_in_4bit: false,
        llm_int8_threshold: 6.0,
        llm_int8_skip_modules: null,
        llm_int8_has_fp16_weight: false,
        llm_int8_enable_fp32_cpu_offload: false,
      };
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config.raw, torch_dtype: 'float16', quantization_config }, null, 2));
      writeGenerationConfig(opts.baseDir, dir, config);
      for (const f of TOKENIZER_FILES)
        if (existsSync(path.join(opts.baseDir, f))) copyRegularFileSync(path.join(opts.baseDir, f), path.join(dir, f));
      refuseNonFiniteErrors(
        errors.map((e) => ({ name: e.name, max: e.maxAbs, mean: e.meanAbs })),
        file,
      );
      const worst = await verifyInt8(file, source, opts.pieceValues);
      return { outDir: opts.outDir, errors, worstStepFraction: worst };
    });
  } finally {
    await release();
  }
}

interface Int8Rows {
  /** The int8 weight, in pieces of rows (written as they are). */
  q: Uint8Array[];
  /** SCB: every row's absmax, as f32 bytes. */
  scb: Uint8Array;
  error: { maxAbs: number; meanAbs: number };
}

/** A projection quantized a piece of rows at a time on the pool; its int8 rows and SCB are kept until written. */
async function quantizeTensor(source: TensorSource, name: string, pool: PiecePool, pieceValues?: number): Promise<Int8Rows> {
  const rows = source.info(name).shape[0];
  const q: Uint8Array[] = [];
  const scb = new Float32Array(rows);
  let tally: { max: number; sum: number; count: number } | undefined;
  let row = 0;
  // At most the pool's look-ahead in flight: a 7B's down_proj is 45 M values.
  const inFlight: Promise<PieceResult>[] = [];
  const take = async () => {
    const r = await inFlight.shift()!;
    q.push(r.bytes.slice()); // out of the slot, which the next piece needs
    scb.set(r.scb!, row);
    row += r.scb!.length;
    pool.slots.releaseBytes(r.bytes);
    if (r.tally) tally = r.tally;
  };
  try {
    for (const piece of encodePieces(source, name, pool, { to: 'I8', tally: true, pieceValues })) {
      piece.catch(() => undefined); // raised by take(), in order
      inFlight.push(piece);
      if (inFlight.length > pool.lookahead) await take();
    }
    while (inFlight.length) await take();
  } catch (e) {
    inFlight.length = 0;
    throw e;
  }
  const t = tally!;
  return { q, scb: new Uint8Array(scb.buffer), error: { maxAbs: t.max, meanAbs: t.sum / t.count } };
}

/**
 * Reopen the int8 file, dequantize every projection a piece of rows at a time and compare with the f32 weights:
 * each value must lie within half a step (SCB/127/2) of its row. Returns the worst error as a fraction of a step.
 */
async function verifyInt8(file: string, source: TensorSource, pieceValues = PIECE_VALUES): Promise<number> {
  const f = await openSafetensors(file);
  let worst = 0;
  try {
    for (const t of f.list()) {
      if (!t.name.endsWith('.SCB')) continue;
      const base = t.name.slice(0, -'.SCB'.length);
      const scb = await f.readF32(t.name);
      const cols = f.info(`${base}.weight`).shape[1];
      for (const [start, end] of pieceRows(f.info(`${base}.weight`).shape, pieceValues)) {
        const raw = await f.readRawRows(`${base}.weight`, start, end);
        const q = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
        const w = await source.readF32Rows(`${base}.weight`, start, end);
        for (let r = 0; r < end - start; r++) {
          const s = scb[start + r];
          const step = s / 127;
          if (!(step > 0)) continue;
          for (let c = 0; c < cols; c++) {
            const i = r * cols + c;
            worst = Math.max(worst, Math.abs(w[i] - Math.fround((q[i] * s) / 127)) / step);
          }
        }
      }
    }
  } finally {
    await f.close();
  }
  // `!(x <= bound)`: a NaN error fails the check too.
  if (!(worst <= 0.5 + 1e-3))
    throw new StudioError(`int8 check failed: an error of ${worst.toFixed(3)} steps (at most 0.5 expected)`, file, 'export/verify');
  return worst;
}
