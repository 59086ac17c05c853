/**
 * A tensor's bytes as a writer takes them: all at once, as pieces made on demand (rows at a time) so a 500 MB
 * embedding never sits in memory whole, or as promises of pieces that start their work when pulled (reading and
 * encoding on worker threads run ahead of the write by as many pieces as the writer pulls ahead).
 */
export type TensorBytes = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Promise<Uint8Array>>;

interface PieceSink {
  /** The declared byte size of tensor i. */
  expectedBytes(i: number): number;
  /** The error for tensor i when a piece is not bytes (`got` describes it) or the sizes disagree (`got` is a count). */
  notBytes(i: number, got: string): Error;
  wrongSize(i: number, got: number): Error;
  write(piece: Uint8Array, i: number): Promise<void>;
  /** After tensor i's last piece is written (padding, hooks). */
  tensorDone(i: number): Promise<void> | void;
}

/** How a writer runs ahead of the disk (writeSafetensors, writeGguf and writePieces take these). */
export interface WriteAheadOptions {
  /** Pieces pulled ahead of the one being written; 1 unless the pieces are made on worker threads. */
  lookahead?: number;
  /** Called with each piece once it is written (its memory can serve another piece). */
  onWritten?: (piece: Uint8Array) => void;
}

/** One step of the stream: a piece of tensor i (its bytes, perhaps still being made), or the end of tensor i. */
type Step = { i: number; bytes: Promise<unknown> } | { i: number; end: true };

/** Every tensor's pieces in order, each followed by its end. Pieces given as promises are passed on unawaited. */
async function* stepsOf(count: number, produce: (i: number) => TensorBytes | Promise<TensorBytes>, stopped: () => boolean) {
  for (let i = 0; i < count && !stopped(); i++) {
    const data: unknown = await produce(i);
    if (isAsyncIterable(data)) {
      for await (const piece of data) yield { i, bytes: Promise.resolve(piece) } satisfies Step;
    } else if (isPromiseIterable(data)) {
      for (const item of data) {
        const piece = Promise.resolve(item);
        piece.catch(() => undefined); // raised when its turn comes, not as an unhandled rejection
        yield { i, bytes: piece } satisfies Step;
        if (stopped()) return;
      }
    } else yield { i, bytes: Promise.resolve(data) } satisfies Step;
    yield { i, end: true } satisfies Step;
  }
}

function isAsyncIterable(x: unknown): x is AsyncIterable<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function isPromiseIterable(x: unknown): x is Iterable<Promise<unknown>> {
  return (
    typeof x === 'object' &&
    x !== null &&
    !ArrayBuffer.isView(x) && // a Uint8Array is iterable too (of numbers)
    typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function'
  );
}

/**
 * Write `count` tensors' bytes in order. Up to `lookahead` pieces beyond the one being written are pulled ahead (of
 * this tensor or the next ones): pieces made on demand are made while the current one is on its way to the disk
 * (file writes run on libuv's thread pool), and pieces given as promises run on worker threads meanwhile. So at most
 * `lookahead` + 1 pieces are held at a time. Each piece is checked before it is written: bytes, and never past the
 * tensor's declared size (which it must reach by its end).
 */
export async function writePieces(
  count: number,
  produce: (i: number) => TensorBytes | Promise<TensorBytes>,
  sink: PieceSink,
  opts: WriteAheadOptions = {},
): Promise<void> {
  const lookahead = opts.lookahead ?? 1;
  let failed = false;
  const steps = stepsOf(count, produce, () => failed);
  const queue: Promise<IteratorResult<Step>>[] = [];
  const pull = () => {
    const next = steps.next();
    next.catch(() => undefined); // raised when awaited, in order
    queue.push(next);
  };
  let soFar = 0;
  try {
    for (let k = 0; k <= lookahead; k++) pull();
    for (;;) {
      const step = await queue.shift()!;
      if (step.done) return;
      pull();
      const { i } = step.value;
      if ('end' in step.value) {
        if (soFar !== sink.expectedBytes(i)) throw sink.wrongSize(i, soFar);
        soFar = 0;
        await sink.tensorDone(i);
        continue;
      }
      const bytes = await step.value.bytes;
      if (!(bytes instanceof Uint8Array)) throw sink.notBytes(i, Object.prototype.toString.call(bytes));
      soFar += bytes.byteLength;
      if (soFar > sink.expectedBytes(i)) throw sink.wrongSize(i, soFar);
      await sink.write(bytes, i);
      opts.onWritten?.(bytes);
    }
  } catch (e) {
    failed = true; // no more tensors are started; pieces already in flight settle unobserved
    throw e;
  }
}
