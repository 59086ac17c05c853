// A GEMM pool thread: it waits on the control block, takes tasks of each job, and never returns to its event loop
// (arenas come as messages it reads synchronously when woken). It leaves when told to quit; the pool unrefs it, so
// it never keeps a process alive, and a process that ends takes it along.
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { CTRL, workOn, type KernelExports } from './gemm-task.ts';
import { wasmApi, type WasmMemory, type WasmModule } from './wasm-api.ts';

export interface GemmWorkerData {
  control: SharedArrayBuffer;
  module: WasmModule;
  /** 1-based: the calling thread is 0. */
  thread: number;
}
export type GemmWorkerMessage = { type: 'arena'; id: number; memory: WasmMemory };

const { control, module, thread } = workerData as GemmWorkerData;
const ctrl = new Int32Array(control);
const api = wasmApi()!;
const instances = new Map<number, KernelExports>();
const port = parentPort!;

function readMessages(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const msg = m.message as GemmWorkerMessage;
    if (msg.type === 'arena') instances.set(msg.id, new api.Instance(module, { env: { memory: msg.memory } }).exports as KernelExports);
  }
}

port.postMessage({ type: 'ready' });
let seen = 0;
for (;;) {
  Atomics.wait(ctrl, CTRL.seq, seen);
  seen = Atomics.load(ctrl, CTRL.seq);
  readMessages();
  if (Atomics.load(ctrl, CTRL.quit)) break;
  const kernels = instances.get(ctrl[CTRL.arena]);
  if (!kernels) continue; // an arena this thread has not been given yet: the others do the job
  const hang = () => {
    if (ctrl[CTRL.hangThread] === thread) Atomics.wait(ctrl, CTRL.quit, 0); // test seam: a thread that stops answering
  };
  try {
    workOn(kernels, ctrl, seen, thread, hang);
  } catch (e) {
    Atomics.store(ctrl, CTRL.failed, 1);
    Atomics.notify(ctrl, CTRL.done);
    port.postMessage({ type: 'error', message: (e as Error).message });
  }
}
