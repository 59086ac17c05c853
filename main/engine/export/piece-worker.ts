// A worker thread of the PiecePool: encodes pieces (decode → merge → RoPE rows → encode) sent by the export on the
// main thread, from and into shared slots (no copies). One task at a time, in the order they came, so a tensor's
// error tally is summed in its order (error-tally.ts).
import { parentPort } from 'node:worker_threads';
import { PieceRunner, type Chain, type PieceTask } from './piece-encode.ts';

export interface PieceRequest {
  id: number;
  /** Its raw bytes are a view of a PieceSlot's shared input. */
  task: PieceTask;
  chain?: Chain;
  /** The slot's shared output: the piece is encoded into it. */
  into: Uint8Array;
}

export type PieceReply =
  | { type: 'ready' }
  | { type: 'done'; id: number; bytes: Uint8Array; scb?: Float32Array; tally?: { max: number; sum: number; count: number } }
  | { type: 'failed'; id: number; error: { name: string; message: string; code?: string } };

const port = parentPort;
if (!port) throw new Error('piece-worker.ts runs as a worker thread of PiecePool');
const runner = new PieceRunner();
port.on('message', (m: PieceRequest) => {
  let reply: PieceReply;
  try {
    // The bytes and SCB are views of the shared output: posting them copies no data.
    reply = { type: 'done', id: m.id, ...runner.run(m.task, m.chain, m.into) };
  } catch (e) {
    const err = e as Error & { code?: string };
    reply = { type: 'failed', id: m.id, error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), code: err?.code } };
  }
  port.postMessage(reply);
});
port.postMessage({ type: 'ready' } satisfies PieceReply);
