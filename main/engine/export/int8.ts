import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodeFromF32 } from '../formats/dtypes.ts';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../formats/safetensors.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from '../model/config.ts';
import { withAtomicDir } from './atomic-dir.ts';
import { exportableTensors, TOKENIZER_FILES, writeGenerationConfig, type ExportProgress } from './hf-export.ts';

export interface QuantError {
  name: string;
  maxAbs: number;
  meanAbs: number;
}

/** bitsandbytes LLM.int8 row-wise quantization: SCB = max|row|, q = round(W · 127 / SCB). */
export function quantizeInt8Rows(w: Float32Array, rows: number, cols: number): { q: Int8Array; scb: Float32Array } {
  const q = new Int8Array(w.length);
  const scb = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let max = 0;
    for (let c = 0; c < cols; c++) max = Math.max(max, Math.abs(w[r * cols + c]));
    scb[r] = max;
    const k = max === 0 ? 0 : 127 / max;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.round(w[r * cols + c] * k);
  }
  return { q, scb };
}

export function dequantizeInt8Rows(q: Int8Array, scb: Float32Array, cols: number): Float32Array {
  return Float32Array.from(q, (v, i) => (v * scb[Math.floor(i / cols)]) / 127);
}

const LINEAR = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/;

/**
 * int8 safetensors that transformers loads with bitsandbytes: each projection as `weight` (int8), `SCB` (f32 row
 * absmax) and `weight_format` (u8 0 = row); embeddings, norms and lm_head kept f16; config.json gets the
 * quantization_config. Every quantized tensor's error is measured; the file is then reopened and dequantized to
 * check every weight lies within half a quantization step of the original.
 */
export async function exportInt8(opts: {
  source: TensorSource;
  config: LlamaConfig;
  baseDir: string;
  outDir: string;
  onProgress?: ExportProgress;
}) {
  const { source, config } = opts;
  const tensors = exportableTensors(source, config);
  const errors: QuantError[] = [];
  let done = 0;
  return withAtomicDir(opts.outDir, async (dir) => {
    const entries: TensorToWrite[] = [];
    const cache = new Map<string, { q: Int8Array; scb: Float32Array }>();
    // The weight and its SCB come from one quantization; it is kept only until both are written (SCB sorts first).
    const quantized = async (name: string, rows: number, cols: number) => {
      let hit = cache.get(name);
      if (!hit) {
        const w = await source.readF32(name);
        hit = quantizeInt8Rows(w, rows, cols);
        const back = dequantizeInt8Rows(hit.q, hit.scb, cols);
        let max = 0;
        let sum = 0;
        for (let i = 0; i < w.length; i++) {
          const e = Math.abs(w[i] - back[i]);
          max = Math.max(max, e);
          sum += e;
        }
        errors.push({ name, maxAbs: max, meanAbs: sum / w.length });
        cache.set(name, hit);
        opts.onProgress?.(++done, tensors.length, name);
      } else cache.delete(name);
      return hit;
    };
    for (const t of tensors) {
      if (LINEAR.test(t.name)) {
        const [rows, cols] = t.shape;
        const base = t.name.slice(0, -'.weight'.length);
        entries.push({
          name: `${base}.weight`,
          dtype: 'I8',
          shape: t.shape,
          data: async () => {
            const { q } = await quantized(t.name, rows, cols);
            return new Uint8Array(q.buffer);
          },
        });
        entries.push({
          name: `${base}.SCB`,
          dtype: 'F32',
          shape: [rows],
          data: async () => {
            const { scb } = await quantized(t.name, rows, cols);
            return new Uint8Array(scb.buffer);
          },
        });
        entries.push({ name: `${base}.weight_format`, dtype: 'U8', shape: [], data: Uint8Array.of(0) });
      } else {
        entries.push({
          name: t.name,
          dtype: 'F16',
          shape: t.shape,
          data: async () => {
            const b = encodeFromF32(await source.readF32(t.name), 'F16');
            opts.onProgress?.(++done, tensors.length, t.name);
            return b;
          },
        });
      }
    }
    const file = path.join(dir, 'model.safetensors');
    await writeSafetensors(file, entries, { metadata: { format: 'pt' } });
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
      if (existsSync(path.join(opts.baseDir, f))) copyFileSync(path.join(opts.baseDir, f), path.join(dir, f));
    const worst = await verifyInt8(file, source);
    return { outDir: opts.outDir, errors, worstStepFraction: worst };
  });
}

/**
 * Reopen the int8 file, dequantize every projection and compare with the f32 weights: each value must lie within
 * half a step (SCB/127/2) of its row. Returns the worst error as a fraction of a step.
 */
async function verifyInt8(file: string, source: TensorSource): Promise<number> {
  const f = await openSafetensors(file);
  let worst = 0;
  try {
    for (const t of f.list()) {
      if (!t.name.endsWith('.SCB')) continue;
      const base = t.name.slice(0, -'.SCB'.length);
      const scb = await f.readF32(t.name);
      const raw = await f.readRaw(`${base}.weight`);
      const q = new Int8Array(raw.buffer, raw.byteOffset, raw.byteLength);
      const cols = q.length / scb.length;
      const back = dequantizeInt8Rows(q, scb, cols);
      const w = await source.readF32(`${base}.weight`);
      for (let i = 0; i < w.length; i++) {
        const step = scb[Math.floor(i / cols)] / 127;
        if (step > 0) worst = Math.max(worst, Math.abs(w[i] - back[i]) / step);
      }
    }
  } finally {
    await f.close();
  }
  if (worst > 0.5 + 1e-3) throw new Error(`${file}: int8 check failed: an error of ${worst.toFixed(3)} steps (at most 0.5 expected)`);
  return worst;
}
