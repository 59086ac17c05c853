import { wasmApi, type WasmMemory } from './wasm-api.ts';
import { NF4_TABLE_AT, RESERVED_BYTES } from './gemm-wat.ts';

/** WebAssembly pages (64 KiB); a 32-bit memory holds at most 65,536 of them (4 GiB). */
const PAGE = 65536;
const MAX_PAGES = 65536;
/** Allocations start on 64-byte lines and keep 64 bytes of slack: vector loads may read a few bytes past the end. */
const ALIGN = 64;

/**
 * One shared WebAssembly memory that the GEMM kernels run in, on every thread: the stored matrices placed in it
 * (their bytes as they are stored, never widened) and each product's operands while it runs. A memory
 * ends at 4 GiB, so a large base spans several arenas; a product runs in its matrix's arena.
 */
export class Arena {
  readonly memory: WasmMemory;
  /** Free ranges [start, end), sorted, never touching. */
  private free: [number, number][] = [];
  private top = RESERVED_BYTES;
  /** Bytes held by matrices (products' operands come and go). */
  weightBytes = 0;

  /** `nf4Levels`: the NF4 code book (16 values) the kernels read from this memory. */
  constructor(
    readonly id: number,
    nf4Levels: Float32Array,
  ) {
    this.memory = new (wasmApi()!.Memory)({ initial: 1, maximum: MAX_PAGES, shared: true });
    new Float32Array(this.memory.buffer, NF4_TABLE_AT, 16).set(nf4Levels);
  }

  /** Bytes this arena could still give, before any reuse of freed ranges. */
  get headroom(): number {
    return MAX_PAGES * PAGE - this.top;
  }

  /** The start of `bytes` bytes (64-aligned), growing the memory if needed; undefined when the arena is full. */
  alloc(bytes: number): number | undefined {
    const size = Math.ceil((bytes + ALIGN) / ALIGN) * ALIGN;
    for (let i = 0; i < this.free.length; i++) {
      const [start, end] = this.free[i];
      if (end - start < size) continue;
      if (end - start === size) this.free.splice(i, 1);
      else this.free[i] = [start + size, end];
      return start;
    }
    const start = this.top;
    if (start + size > MAX_PAGES * PAGE) return undefined;
    const have = this.memory.buffer.byteLength;
    if (start + size > have) this.memory.grow(Math.ceil((start + size - have) / PAGE));
    this.top = start + size;
    return start;
  }

  /** Give back an allocation of `bytes` at `start` (the same size it was asked with). */
  release(start: number, bytes: number): void {
    const size = Math.ceil((bytes + ALIGN) / ALIGN) * ALIGN;
    let end = start + size;
    let begin = start;
    const kept: [number, number][] = [];
    for (const [s, e] of this.free) {
      if (e === begin) begin = s;
      else if (s === end) end = e;
      else kept.push([s, e]);
    }
    if (end === this.top) this.top = begin;
    else {
      kept.push([begin, end]);
      kept.sort((a, b) => a[0] - b[0]);
    }
    this.free = kept;
  }

  bytes(start: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, start, length);
  }

  floats(start: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, start, length);
  }
}
