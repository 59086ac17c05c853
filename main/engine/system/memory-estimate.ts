import { freemem, totalmem } from 'node:os';
import type { AdapterDescription } from '../backend/webgpu.ts';
import type { LlamaConfig } from '../model/config.ts';
import { gpuMemoryBytes, readGpuStats, type GpuStats } from './gpu-stats.ts';
import { PROJECTIONS, parameterCount, projectionShape, type ProjectionName } from '../model/projections.ts';

export interface MemoryEstimate {
  /** Frozen weights as the trainer holds them: f32, with Wᵀ and W both kept for the backward pass. */
  weightsBytes: number;
  /** LoRA A and B in f32. */
  loraBytes: number;
  /** AdamW's two moments plus the accumulated gradient, per LoRA parameter. */
  optimizerBytes: number;
  /** Activations kept for the backward pass of one micro-batch, logits included. */
  activationsBytes: number;
  totalBytes: number;
  /** What this machine has (free and total RAM); the wasm and cpu backends use it. */
  availableBytes: number;
  machineBytes: number;
  /** The largest single tensor of a step (logits, attention probabilities, MLP activations or a weight matrix). */
  /** `kind` and `shape` let a UI say it in its own language; `what` says it in English. */
  largestTensor: { bytes: number; what: string; kind: LargestTensorKind; shape: number[] };
  fits: boolean;
}

/** What a WebGPU device can hold. WebGPU does not expose VRAM: total/free come from nvidia-smi when it knows them. */
export interface DeviceLimits {
  name: string;
  totalBytes: number | null;
  freeBytes: number | null;
  /** Where the memory figures come from, or why there are none. */
  memorySource: string;
  /** A tensor is one storage buffer bound whole: larger than min(maxStorageBufferBindingSize, maxBufferSize) it cannot exist. */
  maxBindingBytes: number;
  maxBufferBytes: number;
}

const F32 = 4;

export type LargestTensorKind = 'logits' | 'attention' | 'mlp-activation' | 'embedding' | 'mlp-weight';

/**
 * A training step's memory on the tfjs backends here, from the model config and the run settings. It counts what
 * our trainer keeps: every frozen matrix twice (W and Wᵀ), LoRA weights, gradients and AdamW moments in f32, and the
 * activations autograd keeps per micro-batch (per layer: the residual stream, norms, q/k/v, attention
 * probabilities, the MLP's three F-wide tensors; then logits and their softmax).
 */
export function estimateTrainingMemory(
  config: LlamaConfig,
  s: { microBatchSize: number; cutoffLen: number; loraR: number; targetModules: readonly ProjectionName[]; frozenStorage?: 'f32' | 'f16' },
): MemoryEstimate {
  const { hiddenSize: H, intermediateSize: F, numLayers: L, numHeads: nH, numKvHeads: nKV, headDim: D, vocabSize: V } = config;
  // f16 (WebGPU): every projection and lm_head as one packed half copy; the embedding (a lookup) and norms stay f32.
  const projectionParams = L * PROJECTIONS.reduce((n, p) => n + projectionShape(config, p).reduce((a, b) => a * b, 1), 0);
  const weightsBytes = s.frozenStorage === 'f16' ? (projectionParams + V * H) * 2 + (V * H + (2 * L + 1) * H) * F32 : 2 * parameterCount(config) * F32;
  let loraParams = 0;
  for (const name of PROJECTIONS) {
    if (!s.targetModules.includes(name)) continue;
    const [out, inF] = projectionShape(config, name);
    loraParams += L * s.loraR * (out + inF);
  }
  const loraBytes = loraParams * F32;
  const optimizerBytes = 3 * loraParams * F32;
  const tokens = s.microBatchSize * s.cutoffLen;
  // Coefficients count the tensors tfjs keeps alive through a step, forward outputs and their gradients (calibrated
  // against tf.profile's peak on real steps: RoPE, norms and masks each leave several same-sized intermediates).
  const perLayer = tokens * (12 * H + 8 * (nH + nKV) * D + 6 * F) + 8 * s.microBatchSize * nH * s.cutoffLen * s.cutoffLen;
  const activationsBytes = 2 * (L * perLayer + 4 * tokens * V) * F32; // the backward holds gradients of the same sizes
  const totalBytes = weightsBytes + loraBytes + optimizerBytes + activationsBytes;
  const availableBytes = freemem();
  const T = s.cutoffLen;
  const candidates: { kind: LargestTensorKind; shape: number[]; what: string }[] = [
    { kind: 'logits', shape: [s.microBatchSize, T, V], what: 'the logits of one micro-batch' },
    { kind: 'attention', shape: [s.microBatchSize, nH, T, T], what: 'the attention probabilities of one layer' },
    { kind: 'mlp-activation', shape: [s.microBatchSize, T, F], what: 'an MLP activation' },
    { kind: 'embedding', shape: [V, H], what: 'the embedding' },
    { kind: 'mlp-weight', shape: [F, H], what: 'an MLP weight' },
  ];
  const sized = candidates.map((c) => ({ ...c, bytes: c.shape.reduce((a, b) => a * b, 1) * F32 }));
  const largest = sized.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const dims = largest.kind === 'attention' ? `${s.microBatchSize} × ${nH} heads × ${T} × ${T}` : largest.shape.join(' × ');
  const largestTensor = { bytes: largest.bytes, kind: largest.kind, shape: largest.shape, what: `${largest.what} (${dims} f32)` };
  return {
    weightsBytes, loraBytes, optimizerBytes, activationsBytes, totalBytes, availableBytes, machineBytes: totalmem(),
    largestTensor, fits: totalBytes < availableBytes,
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/**
 * The device a WebGPU adapter stands for. Memory figures come from nvidia-smi only for an NVIDIA adapter (the GPU
 * whose name matches the adapter's description, else the first); any other adapter's memory is unknown.
 */
export async function webgpuDeviceLimits(adapter: AdapterDescription, stats: () => Promise<GpuStats> = () => readGpuStats()): Promise<DeviceLimits> {
  const name = adapter.description || `${adapter.vendor} ${adapter.architecture}`.trim();
  const limits = { name, maxBindingBytes: Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize), maxBufferBytes: adapter.limits.maxBufferSize };
  if (adapter.isFallback) return { ...limits, totalBytes: null, freeBytes: null, memorySource: 'unknown (a software adapter: it computes in RAM)' };
  if (!/nvidia/i.test(`${adapter.vendor} ${adapter.description}`)) return { ...limits, totalBytes: null, freeBytes: null, memorySource: 'unknown (WebGPU does not report device memory; nvidia-smi only knows NVIDIA GPUs)' };
  const s = await stats();
  if (!s.available) return { ...limits, totalBytes: null, freeBytes: null, memorySource: `unknown (${s.message})` };
  const gpu = s.gpus.find((g) => adapter.description && g.name.includes(adapter.description)) ?? s.gpus[0];
  return { ...limits, ...gpuMemoryBytes(gpu), memorySource: `nvidia-smi, GPU ${gpu.index} (${gpu.name})` };
}

/**
 * Why a training step cannot run on the device, or undefined when nothing known stands in the way: the estimate
 * against the free (else total) device memory when known, and the largest tensor against the binding limit.
 */
export function deviceRefusal(est: MemoryEstimate, device: DeviceLimits, s: { microBatchSize: number; cutoffLen: number }): string | undefined {
  const problems: string[] = [];
  const room = device.freeBytes ?? device.totalBytes;
  if (room !== null && est.totalBytes > room) {
    const which = device.freeBytes !== null ? `free of ${gib(device.totalBytes ?? device.freeBytes)}` : 'in total';
    problems.push(
      `the estimated training memory, ${gib(est.totalBytes)} (weights ${gib(est.weightsBytes)}, activations ${gib(est.activationsBytes)}, ` +
        `LoRA + optimizer ${gib(est.loraBytes + est.optimizerBytes)}), exceeds the ${gib(room)} ${which} (${device.memorySource})`,
    );
  }
  if (est.largestTensor.bytes > device.maxBindingBytes) {
    problems.push(`${est.largestTensor.what} takes ${gib(est.largestTensor.bytes)}, more than the ${gib(device.maxBindingBytes)} one buffer may hold (maxStorageBufferBindingSize / maxBufferSize)`);
  }
  if (problems.length === 0) return undefined;
  return `training does not fit on the WebGPU device ${device.name}: ${problems.join('; ')}. Lower micro_batch_size (${s.microBatchSize}) or cutoff_len (${s.cutoffLen}).`;
}
