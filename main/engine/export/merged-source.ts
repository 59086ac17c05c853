import { StudioError } from '../errors.ts';
import type { LoadedAdapter } from '../formats/peft-adapter.ts';
import { addLowRank, firstNonFinite, nonFiniteMergeError } from './low-rank.ts';
import type { LowRankRows } from '../formats/tensor-source.ts';
import { readRawRowsInto, type RowsInput, type TensorInfo, type TensorSource } from '../formats/tensor-source.ts';
import { loraScale } from '../llama/lora-scale.ts';
import { projectionPath } from '../llama/projections.ts';

/**
 * The base model's tensors with a LoRA adapter merged in, read one tensor at a time: W' = W + scale · B·A for
 * every adapted projection, computed in f32 from the base's stored precision. With `safe` (the default) a merged
 * tensor holding NaN or Inf stops the export with the module's name.
 */
export class MergedSource implements TensorSource {
  private readonly deltas = new Map<string, { a: Float32Array; b: Float32Array }>();
  readonly scale: number;

  constructor(
    private readonly base: TensorSource,
    adapter: LoadedAdapter,
    private readonly safe = true,
  ) {
    const c = adapter.config;
    this.scale = loraScale({ r: c.r, alpha: c.lora_alpha, useRslora: c.use_rslora });
    for (const m of adapter.modules.values()) this.deltas.set(`${projectionPath(m.layer, m.name)}.weight`, { a: m.a, b: m.b });
  }

  list(): TensorInfo[] {
    return this.base.list();
  }
  has(name: string): boolean {
    return this.base.has(name);
  }
  info(name: string): TensorInfo {
    return this.base.info(name);
  }
  /** Raw bytes are only meaningful for untouched tensors; merged ones must be read as f32. */
  async readRaw(name: string): Promise<Uint8Array> {
    if (this.deltas.has(name)) throw new StudioError(`tensor ${name} is merged; read it as f32`);
    return this.base.readRaw(name);
  }
  async readRawRows(name: string, start: number, end: number): Promise<Uint8Array> {
    if (this.deltas.has(name)) throw new StudioError(`tensor ${name} is merged; read it as f32`);
    return this.base.readRawRows(name, start, end);
  }
  async readRawRowsInto(name: string, start: number, end: number, into: Uint8Array): Promise<Uint8Array> {
    if (this.deltas.has(name)) throw new StudioError(`tensor ${name} is merged; read it as f32`);
    return readRawRowsInto(this.base, name, start, end, into);
  }
  isMerged(name: string): boolean {
    return this.deltas.has(name);
  }

  async readF32(name: string): Promise<Float32Array> {
    const shape = this.base.info(name).shape;
    return this.readF32Rows(name, 0, shape.length ? shape[0] : 1);
  }

  /** Rows [start, end) of W + scale · B·A: only B's rows [start, end) take part, so a piece costs what its rows do. */
  async readF32Rows(name: string, start: number, end: number): Promise<Float32Array> {
    const w = await this.base.readF32Rows(name, start, end);
    const delta = this.deltaRows(name, start, end);
    if (!delta) return w;
    const cols = this.base.info(name).shape[1];
    addLowRank(w, delta.b, delta.a, end - start, cols, delta.r, delta.scale);
    if (this.safe) {
      const bad = firstNonFinite(w);
      if (bad >= 0) throw nonFiniteMergeError(name, w, bad, start, cols);
    }
    return w;
  }

  /**
   * The stored rows and, for an adapted projection, the update to add: an encoder on another thread merges them
   * itself (formats/piece-encode.ts). Untouched tensors are read through readRawRows(Into), into `into` when given.
   */
  async readRowsInput(name: string, start: number, end: number, into?: Uint8Array): Promise<RowsInput> {
    const delta = this.deltaRows(name, start, end);
    const { dtype } = this.base.info(name);
    if (!delta) return { raw: into ? await this.readRawRowsInto(name, start, end, into) : await this.readRawRows(name, start, end), dtype };
    return {
      raw: into ? await readRawRowsInto(this.base, name, start, end, into) : await this.base.readRawRows(name, start, end),
      dtype,
      delta,
    };
  }

  close(): Promise<void> {
    return this.base.close();
  }

  private deltaRows(name: string, start: number, end: number): LowRankRows | undefined {
    const delta = this.deltas.get(name);
    if (!delta) return undefined;
    const r = delta.a.length / this.base.info(name).shape[1];
    return { a: delta.a, b: delta.b.subarray(start * r, end * r), r, scale: this.scale, safe: this.safe };
  }
}
