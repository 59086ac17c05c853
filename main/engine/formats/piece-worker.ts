// A worker thread of the PiecePool: encodes pieces (decode → merge → RoPE rows → encode) sent by the export on the
// main thread and posts the bytes back (transferred, not copied). One task at a time, in the order they came, so a
// tensor's error tally is summed in element order.
import { parentPort } from 'node:worker_threads';
import { PieceRunner, type Chain, type PieceTask } from './piece-encode.ts';

export interface PieceRequest {
  id: number;
  task: PieceTask;
  chain?: Chain;
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
    const out = runner.run(m.task, m.chain);
    reply = { type: 'done', id: m.id, ...out };
  } catch (e) {
    const err = e as Error & { code?: string };
    port.postMessage({
      type: 'failed',
      id: m.id,
      error: { name: err?.name ?? 'Error', message: err?.message ?? String(e), code: err?.code },
    });
    return;
  }
  // The input goes back too (and is dropped there): garbage left here would wait for this thread's own GC, which
  // runs rarely on a small heap, and every worker held ~60 MB of spent inputs.
  const transfer: ArrayBuffer[] = [reply.bytes.buffer as ArrayBuffer, m.task.raw.buffer as ArrayBuffer];
  if (reply.scb) transfer.push(reply.scb.buffer as ArrayBuffer);
  port.postMessage({ ...reply, spent: m.task.raw }, transfer);
});
port.postMessage({ type: 'ready' } satisfies PieceReply);
