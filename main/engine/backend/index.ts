import { createRequire } from 'node:module';
import os, { availableParallelism } from 'node:os';
import { StudioError } from '../errors.ts';
import { withWasmThreadFiles } from './wasm-threads.ts';
import { cpuMatmulPath } from '../cpu-kernels/cpu-matmul-path.ts';
import { adapterLine, findAdapter, registerWebgpuBackend, type AdapterKind } from './webgpu.ts';

import type { BackendChoice } from './choices.ts';

export type { BackendChoice } from './choices.ts';

export interface BackendInfo {
  /** What the user asked for. */
  requested: BackendChoice;
  /** The tfjs backend that runs: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'webgpu', 'wasm' or 'cpu'. */
  name: string;
  /** The package or build behind it, e.g. '@tensorflow/tfjs-node-gpu' or 'wasm (simd, threads)'. */
  detail: string;
  threads: number;
  /** Why faster backends were passed over (auto), so the CLI can say it. */
  skipped: string[];
}

const require = createRequire(import.meta.url);
/** TensorFlow.js is loaded on first use (~150 MB): commands that never compute (inspect, merge, export) skip it. */
const tfjs = () => import('@tensorflow/tfjs');
let current: BackendInfo | undefined;

/**
 * Pick and prepare the tfjs backend: tfjs-node-gpu > WebGPU (a hardware adapter) > tfjs-node > wasm (SIMD, threads) > cpu.
 * WebGPU's software adapter (SwiftShader) is never picked by `auto`: only `webgpu-software` asks for it.
 * `auto` walks that order and records why each faster one was skipped; a named backend that cannot load is an error.
 * Idempotent: the first successful call wins for the life of the process (tfjs has one global engine).
 */
export async function initBackend(requested: BackendChoice = 'auto', opts: { threads?: number } = {}): Promise<BackendInfo> {
  if (current) {
    if (requested !== 'auto' && requested !== current.requested && !matches(requested, current)) {
      throw new StudioError(`backend already initialised as ${current.name}; cannot switch to ${requested} in this process`);
    }
    return current;
  }
  const skipped: string[] = [];
  const order: BackendChoice[] = requested === 'auto' ? ['gpu', 'webgpu', 'node', 'wasm', 'cpu'] : [requested];
  await tfjs(); // imported before the clock starts: on a busy machine the import alone took up to 28 s
  for (const choice of order) {
    try {
      const info = await withinStartTime(choice, LOADERS[choice](opts.threads), startTimeoutMs());
      current = { requested, skipped, ...info };
      return current;
    } catch (e) {
      const why = `${choice}: ${(e as Error).message.split('\n')[0]}`;
      // A stalled start is not skipped even under auto: it may still finish later and switch tfjs's backend under us.
      const stalled = e instanceof StudioError && e.code === 'backend/stalled';
      if (requested !== 'auto' || stalled)
        throw new StudioError(`backend ${why}`, undefined, e instanceof StudioError ? e.code : 'backend/unavailable');
      skipped.push(why);
    }
  }
  throw new StudioError(`no tfjs backend could start (${skipped.join('; ')})`, undefined, 'backend/unavailable');
}

/**
 * How long a backend may take to start, tfjs's import not counted. A healthy wasm start (2 threads) took a median
 * 2.8 s and at most 12.9 s in 293 fresh processes on this 2-core machine at load averages up to 20+
 * (scripts/wasm-start-probe.ts), and over 30 s once (import included) in a busy test run. One that stalls would
 * otherwise hang the command or job before its first line: tfjs-backend-wasm resolves only when all 8 of its pool
 * workers have reported loaded, and one that never does leaves it waiting for ever (the one cause found, a worker
 * reading its script while it was being rewritten, is fixed in wasm-threads.ts).
 * LORA_STUDIO_BACKEND_START_TIMEOUT_S overrides it.
 */
const BACKEND_START_TIMEOUT_S = 60;

const STALL_ADVICE: Partial<Record<BackendChoice, string>> = {
  wasm: 'its thread pool did not come up; try --threads 1 (no pool) or --backend cpu',
  webgpu: 'the GPU adapter or driver did not answer; try --backend wasm',
  'webgpu-software': 'SwiftShader did not answer; try --backend wasm',
};

function startTimeoutMs(): number {
  const s = Number(process.env.LORA_STUDIO_BACKEND_START_TIMEOUT_S);
  return (Number.isFinite(s) && s > 0 ? s : BACKEND_START_TIMEOUT_S) * 1000;
}

/** `start`, or a StudioError once `ms` have passed without it settling (a stalled start never does). */
export async function withinStartTime<T>(choice: BackendChoice, start: Promise<T>, ms: number): Promise<T> {
  const stall = process.env.LORA_STUDIO_SIMULATE_STALL === choice ? new Promise<T>(() => {}) : undefined; // test seam: a start that never ends
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const advice = STALL_ADVICE[choice] ?? 'try another --backend';
      reject(new StudioError(`did not start within ${ms / 1000} s; ${advice}`, undefined, 'backend/stalled'));
    }, ms);
  });
  try {
    return await Promise.race([stall ?? start, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The backend in use, if initBackend has run. */
export function backendInfo(): BackendInfo | undefined {
  return current;
}

function matches(choice: BackendChoice, info: BackendInfo): boolean {
  return (
    (choice === 'wasm' && info.name === 'wasm') ||
    (choice === 'cpu' && info.name === 'cpu') ||
    (choice === 'webgpu' && info.requested === 'auto' && info.name === 'webgpu')
  );
}

type Loader = (threads?: number) => Promise<Omit<BackendInfo, 'requested' | 'skipped'>>;

const LOADERS: Record<BackendChoice, Loader> = {
  auto: () => Promise.reject(new Error('auto is not a backend')),
  gpu: async () => loadTfjsNode('@tensorflow/tfjs-node-gpu'),
  webgpu: async () => loadWebgpu('hardware'),
  'webgpu-software': async () => loadWebgpu('software'),
  node: async () => loadTfjsNode('@tensorflow/tfjs-node'),
  wasm: async (threads) => loadWasm(threads),
  cpu: async () => {
    const tf = await tfjs();
    await tf.setBackend('cpu');
    await tf.ready();
    return { name: 'cpu', detail: 'tfjs cpu (plain JavaScript, slow)', threads: 1 };
  },
};

async function loadTfjsNode(pkg: string) {
  // Optional dependencies: absent or without libtensorflow on most machines; require throws and auto moves on.
  require(pkg);
  const tf = await tfjs();
  await tf.setBackend('tensorflow');
  await tf.ready();
  return { name: 'tensorflow', detail: pkg, threads: availableParallelism() };
}

async function loadWebgpu(kind: AdapterKind) {
  const { adapter, description } = await findAdapter(kind);
  const tf = await tfjs();
  await registerWebgpuBackend(tf, adapter);
  if (!(await tf.setBackend('webgpu')))
    throw new StudioError(
      `tfjs-backend-webgpu failed to start on ${adapterLine(description)}; try --backend wasm`,
      undefined,
      'backend/start',
    );
  await tf.ready();
  return { name: 'webgpu', detail: `tfjs-backend-webgpu on ${adapterLine(description)}`, threads: 1 };
}

async function loadWasm(threads?: number) {
  const tf = await tfjs();
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const wanted = Math.max(1, threads ?? defaultWasmThreads());
  // With our GEMM kernels the frozen products (most of the FLOPs) run on their own pool of `wanted` threads, and
  // tfjs-wasm keeps one: its pthread pool spins between ops (a profile showed one of its workers busy 90% of a
  // step), which on a 2-core machine took a whole core from our kernels. Its remaining ops are small.
  const gemm = cpuMatmulPath().kernel !== 'tfjs';
  const tfjsThreads = gemm ? 1 : wanted;
  if (tfjsThreads > 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(tfjsThreads);
  const ok = await withWasmThreadFiles(() => withReportedCores(2 * wanted, () => tf.setBackend('wasm')));
  if (!ok) throw new StudioError('tfjs-backend-wasm failed to initialise; try --backend cpu', undefined, 'backend/start');
  await tf.ready();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const actual = wasm.getThreadsCount();
  const plural = (n: number) => `${n} thread${n > 1 ? 's' : ''}`;
  return {
    name: 'wasm',
    detail: `tfjs-backend-wasm (${simd ? 'simd' : 'no simd'}, ${plural(actual)})${gemm ? ` + GEMM kernels (${plural(wanted)})` : ''}`,
    threads: gemm ? wanted : actual,
  };
}

/**
 * tfjs-wasm caps its thread pool at half the logical cores it is told about (it assumes hyper-threading), so on a
 * 2-core machine it would use one. While the module initialises we report `count` cores so the cap becomes ours.
 */
async function withReportedCores<T>(count: number, init: () => Promise<T>): Promise<T> {
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: count }, (_, i) => cpus[i % cpus.length]);
  };
  try {
    return await init();
  } finally {
    os.cpus = realCpus;
  }
}

/** One line for logs and run records: `backend: wasm — tfjs-backend-wasm (simd, 2 threads)`. */
export function describeBackend(info: BackendInfo): string {
  const skipped = info.skipped.length ? ` [skipped ${info.skipped.join('; ')}]` : '';
  return `backend: ${info.name} — ${info.detail}, threads: ${info.threads}${skipped}`;
}

/**
 * wasm threads when none are asked for: all cores, or LORA_STUDIO_WASM_THREADS (the test suite sets it to 1 and starts
 * the thread pool only where a test asks for it).
 */
function defaultWasmThreads(): number {
  const n = Number(process.env.LORA_STUDIO_WASM_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}
