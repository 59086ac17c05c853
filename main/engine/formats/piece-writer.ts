/**
 * A tensor's bytes as a writer takes them: all at once, or as pieces (rows at a time) so a 500 MB embedding never
 * sits in memory whole.
 */
export type TensorBytes = Uint8Array | AsyncIterable<Uint8Array>;

export interface PieceSink {
  /** The declared byte size of tensor i. */
  expectedBytes(i: number): number;
  /** The error for tensor i when a piece is not bytes (`got` describes it) or the sizes disagree (`got` is a count). */
  notBytes(i: number, got: string): Error;
  wrongSize(i: number, got: number): Error;
  write(piece: Uint8Array, i: number): Promise<void>;
  /** After tensor i's last piece is written (padding, hooks). */
  tensorDone(i: number): Promise<void> | void;
}

interface Piece {
  i: number;
  bytes: unknown;
  last: boolean;
}

/** Every tensor's pieces in order; one piece of look-ahead so the last piece of each tensor is marked as such. */
async function* piecesOf(count: number, produce: (i: number) => TensorBytes | Promise<TensorBytes>): AsyncGenerator<Piece> {
  for (let i = 0; i < count; i++) {
    const data: unknown = await produce(i);
    if (!isAsyncIterable(data)) {
      yield { i, bytes: data, last: true };
      continue;
    }
    let held: unknown;
    let any = false;
    for await (const piece of data) {
      if (any) yield { i, bytes: held, last: false };
      held = piece;
      any = true;
    }
    yield { i, bytes: any ? held : new Uint8Array(0), last: true };
  }
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return (
    typeof x === 'object' &&
    x !== null &&
    !(x instanceof Uint8Array) &&
    typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
  );
}

/**
 * Write `count` tensors' bytes in order. The next piece (of this tensor or the next one) is made while the current
 * one is on its way to the disk: file writes run on libuv's thread pool, pieces are read and converted on this
 * thread, so reading, converting and writing overlap, and at most two pieces are held at a time. Each piece is
 * checked before it is written: bytes, and never past the tensor's declared size (which its last piece must reach).
 */
export async function writePieces(
  count: number,
  produce: (i: number) => TensorBytes | Promise<TensorBytes>,
  sink: PieceSink,
): Promise<void> {
  const pieces = piecesOf(count, produce);
  let next = pieces.next();
  let soFar = 0;
  for (;;) {
    const current = await next;
    if (current.done) return;
    next = pieces.next();
    next.catch(() => undefined); // a failure is raised when it is awaited, not as an unhandled rejection
    const { i, bytes, last } = current.value;
    if (!(bytes instanceof Uint8Array)) throw sink.notBytes(i, Object.prototype.toString.call(bytes));
    const expected = sink.expectedBytes(i);
    soFar += bytes.byteLength;
    if (soFar > expected || (last && soFar !== expected)) throw sink.wrongSize(i, soFar);
    await sink.write(bytes, i);
    if (last) {
      soFar = 0;
      await sink.tensorDone(i);
    }
  }
}
