// A PiecePool worker that encodes its first two pieces as the real one does, then dies (exit code 7) when the third
// arrives: what an export sees when a worker thread is killed or runs out of memory half-way.
import { parentPort } from 'node:worker_threads';

let seen = 0;
parentPort!.on('message', () => {
  if (++seen === 3) process.exit(7); // before the real worker's listener (registered below) takes the piece
});
await import('../../main/engine/export/piece-worker.ts');
