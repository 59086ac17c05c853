/**
 * One piece's memory from its read to its write: the stored rows in, the encoded bytes out. Shared with the worker
 * threads (SharedArrayBuffer), so a piece crosses threads without a copy or a transfer, and the same memory serves
 * piece after piece: no allocation, page fault or garbage per piece. Each buffer grows to the largest piece it meets.
 */
export class PieceSlot {
  private inputBuffer = new Uint8Array(new SharedArrayBuffer(0));
  private outputBuffer = new Uint8Array(new SharedArrayBuffer(0));

  /** The first `bytes` bytes of the input buffer. */
  input(bytes: number): Uint8Array {
    if (this.inputBuffer.byteLength < bytes) this.inputBuffer = new Uint8Array(new SharedArrayBuffer(bytes));
    return this.inputBuffer.subarray(0, bytes);
  }

  /** The first `bytes` bytes of the output buffer. */
  output(bytes: number): Uint8Array {
    if (this.outputBuffer.byteLength < bytes) this.outputBuffer = new Uint8Array(new SharedArrayBuffer(bytes));
    return this.outputBuffer.subarray(0, bytes);
  }

  /** Whether `bytes` lies in this slot's memory. */
  holds(bytes: Uint8Array): boolean {
    return bytes.buffer === this.inputBuffer.buffer || bytes.buffer === this.outputBuffer.buffer;
  }
}

/**
 * A fixed set of slots: the bounded queue of pieces. A piece takes a slot before it is read and gives it back once
 * written; when none is free, the next piece waits (in order) until one is. So memory is the slots' and no more,
 * however far ahead the writer pulls.
 */
export class PieceSlots {
  private readonly all: PieceSlot[];
  private readonly free: PieceSlot[];
  private readonly waiting: ((slot: PieceSlot) => void)[] = [];

  constructor(count: number) {
    this.all = Array.from({ length: Math.max(1, count) }, () => new PieceSlot());
    this.free = [...this.all];
  }

  acquire(): Promise<PieceSlot> {
    const slot = this.free.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(slot: PieceSlot): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /** Give back the slot `bytes` came from, once they are written (bytes from elsewhere are ignored). */
  releaseBytes(bytes: Uint8Array): void {
    const slot = this.all.find((s) => s.holds(bytes));
    if (slot) this.release(slot);
  }
}
