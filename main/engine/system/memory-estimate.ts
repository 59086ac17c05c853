import { availableParallelism, freemem, totalmem } from 'node:os';
import { cpuMatmulPath } from '../cpu-kernels/cpu-matmul-path.ts';
import { PANEL_BYTES as GEMM_PANEL_BYTES } from '../cpu-kernels/gemm-task.ts';
import { nativeThreadBytes } from '../cpu-kernels/native-addon.ts';
import { cpuFusedWanted } from '../cpu-kernels/fused-ops.ts';
import type { AdapterDescription } from './gpu-adapter.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { gpuMemoryBytes, readGpuStats, type GpuStats } from './gpu-stats.ts';
import type { LargestTensorKind, MemoryEstimate } from './memory-report.ts';
import { StudioError } from '../errors.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { autoCandidates, checkpointBaseDtype, headDtype } from '../llama/base-dtype.ts';
import { type BaseDtypeChoice } from '../llama/base-dtype-names.ts';
import { bytesPerWeight } from '../llama/block-quant.ts';
import { type BaseDtype } from '../llama/base-dtype-names.ts';
import { choosePlacement, JIT_PIECE_BYTES, type FrozenPlacement } from '../llama/frozen-placement.ts';
import { useGradientCheckpointing } from '../llama/gradient-checkpointing.ts';
import { PROJECTIONS, projectionShape, type ProjectionName } from '../llama/projections.ts';

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

/** tfjs-backend-wasm's heap ends at 4 GiB: allocations past 4,096 MiB fail ("memory access out of bounds"). */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;

/**
 * Node, V8, TensorFlow.js and the tokenizer before any weight is read: ~290 MiB of RSS measured on a TinyLlama run
 * (RSS minus array buffers minus the wasm heap), rounded up.
 */
const RUNTIME_BYTES = 320 * 2 ** 20;

/** What a run asks of memory besides the model: one micro-batch of cutoff_len tokens and LoRA on some modules. */
export interface Workload {
  microBatchSize: number;
  cutoffLen: number;
  loraR: number;
  targetModules: readonly ProjectionName[];
  /** Recompute each layer in the backward pass; undefined: auto (useGradientCheckpointing's rule for the mode). */
  gradientCheckpointing?: boolean;
}

/** Where the weights go: the mode, and the backend (undefined: a device without a heap ceiling, as before modes). */
interface StoragePlan {
  baseDtype?: BaseDtype;
  /** The checkpoint's own precision: embeddings and lm_head follow it in the quantized modes. Default: bf16. */
  native?: 'f32' | 'bf16' | 'f16';
  backendName?: string;
  /** Default: choosePlacement's decision for the backend (device when no backend is named). */
  placement?: FrozenPlacement;
  /**
   * The CPU GEMM kernels hold the frozen matrices (in their stored form, in their own arena outside the heap, with
   * no f32 copy ever made). Default: on a CPU backend unless LORA_STUDIO_CPU_MATMUL=tfjs.
   */
  cpuKernels?: boolean;
  /** The native kernels' fused ops run the layers (default: where this process chose the native kernels). */
  fusedCpu?: boolean;
}

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A training step's memory on the tfjs backends here, from the model config, the run settings and the storage plan.
 * It counts what our trainer keeps: the frozen base as held (see memoryReportSchema), LoRA weights, gradients and
 * AdamW moments in f32, and the activations autograd keeps per micro-batch (per layer: the residual stream, norms,
 * q/k/v, attention probabilities, the MLP's three F-wide tensors; then logits and their softmax).
 */
export function estimateTrainingMemory(config: LlamaConfig, s: Workload & StoragePlan): MemoryEstimate {
  const { hiddenSize: H, intermediateSize: F, numLayers: L, numHeads: nH, numKvHeads: nKV, headDim: D, vocabSize: V } = config;
  const mode = s.baseDtype ?? 'f32';
  const head = headDtype(mode, s.native ?? 'bf16');
  const webgpu = s.backendName === 'webgpu';
  const projectionParams = L * PROJECTIONS.reduce((n, p) => n + elements(projectionShape(config, p)), 0);
  const normBytes = (2 * L + 1) * H * F32;
  const headParams = config.tieWordEmbeddings ? 0 : V * H;
  const placement = s.placement ?? (s.backendName ? choosePlacement(s.backendName, projectionParams + V * H) : 'device');
  const kernels = s.cpuKernels ?? (s.backendName !== undefined && !webgpu && cpuMatmulPath().kernel !== 'tfjs');
  const tokens = s.microBatchSize * s.cutoffLen;
  let weightsBytes: number;
  let hostWeightsBytes: number;
  let transientBytes = 0;
  if (kernels) {
    // Every frozen matrix as stored, in the kernels' arena; the embedding gathered on the host, and once more in the
    // arena as the LM head when tied. No matrix is ever widened to f32.
    const embedBytes = V * H * bytesPerWeight(head);
    hostWeightsBytes =
      projectionParams * bytesPerWeight(mode) + embedBytes + (config.tieWordEmbeddings ? embedBytes : headParams * bytesPerWeight(head));
    weightsBytes = hostWeightsBytes + normBytes;
    transientBytes =
      cpuMatmulPath().kernel === 'native-openblas'
        ? // the native kernels read and write tfjs's tensors in place: only each thread's scratch
          nativeThreadBytes(s.cutoffLen) * availableParallelism()
        : // the wasm kernels' largest operands in their arena, the LM head's backward: dy [tokens, V] copied and packed, dx
          (2 * tokens * V + tokens * H) * F32 + GEMM_PANEL_BYTES * availableParallelism();
  } else if (placement === 'host') {
    // Everything frozen but the norms in JS memory; one matrix at a time dequantized into the heap.
    hostWeightsBytes = projectionParams * bytesPerWeight(mode) + (V * H + headParams) * bytesPerWeight(head);
    weightsBytes = hostWeightsBytes + normBytes;
    // The largest piece dequantized at once (in the heap; its JS twin counts under runtimeBytes).
    const largest = Math.max(V * H, ...PROJECTIONS.map((p) => elements(projectionShape(config, p)))) * F32;
    transientBytes = Math.min(largest, JIT_PIECE_BYTES);
  } else if (webgpu) {
    // The embedding is an f32 table (a gather); projections and lm_head packed halves in 16-bit modes, else W and Wᵀ.
    const perWeight = mode === 'f32' ? 2 * F32 : bytesPerWeight(mode);
    hostWeightsBytes = 0;
    weightsBytes = (projectionParams + V * H) * perWeight + V * H * F32 + normBytes;
  } else {
    // Resident f32 W and Wᵀ (small bases); the embedding is gathered on the host (no backend means: as on WebGPU).
    const embedOnHost = s.backendName !== undefined;
    hostWeightsBytes = embedOnHost ? V * H * bytesPerWeight(head) : 0;
    weightsBytes = (projectionParams + V * H) * 2 * F32 + (embedOnHost ? hostWeightsBytes : V * H * F32) + normBytes;
  }
  let loraParams = 0;
  for (const name of PROJECTIONS) {
    if (!s.targetModules.includes(name)) continue;
    const [out, inF] = projectionShape(config, name);
    loraParams += L * s.loraR * (out + inF);
  }
  const loraBytes = loraParams * F32;
  const optimizerBytes = 3 * loraParams * F32;
  // Coefficients count the tensors tfjs keeps alive through a step, forward outputs and their gradients (calibrated
  // against tf.profile's peak on real steps: RoPE, norms and masks each leave several same-sized intermediates).
  // With the native kernels' fused ops a layer keeps one tensor per op: two norms' outputs, q, k, v, the attention's
  // output, rotated q and k and probabilities, o_proj's and the residual adds, the MLP's three F-wide tensors.
  const fused = s.fusedCpu ?? (kernels && cpuMatmulPath().kernel === 'native-openblas' && cpuFusedWanted());
  const attentionScores = s.microBatchSize * nH * s.cutoffLen * s.cutoffLen;
  const perLayer = fused
    ? tokens * (5 * H + 3 * (nH + nKV) * D + 3 * F) + attentionScores
    : tokens * (12 * H + 8 * (nH + nKV) * D + 6 * F) + 8 * attentionScores;
  const checkpointing = useGradientCheckpointing(s.gradientCheckpointing, mode, placement);
  // the backward holds gradients of the same sizes; with checkpointing only each layer's input stays through the
  // step, and one layer's intermediates exist at a time (while it is recomputed)
  const layersBytes = checkpointing ? L * tokens * H + 2 * perLayer : 2 * L * perLayer;
  const activationsBytes = (layersBytes + 2 * 4 * tokens * V) * F32;
  // The process itself on the CPU path (on WebGPU the estimate is of the device's memory).
  const runtimeBytes = webgpu ? 0 : RUNTIME_BYTES + (placement === 'host' && !kernels ? transientBytes : 0);
  const totalBytes = weightsBytes + loraBytes + optimizerBytes + activationsBytes + transientBytes + runtimeBytes;
  // the kernels' operands live in their arena, not in the backend's heap
  const heapBytes = totalBytes - hostWeightsBytes - runtimeBytes - (kernels ? transientBytes : 0);
  const heapLimitBytes = s.backendName === 'wasm' ? WASM_HEAP_BYTES : null;
  const availableBytes = freemem();
  const T = s.cutoffLen;
  const candidates: { kind: LargestTensorKind; shape: number[]; what: string }[] = [
    { kind: 'logits', shape: [s.microBatchSize, T, V], what: 'the logits of one micro-batch' },
    { kind: 'attention', shape: [s.microBatchSize, nH, T, T], what: 'the attention probabilities of one layer' },
    { kind: 'mlp-activation', shape: [s.microBatchSize, T, F], what: 'an MLP activation' },
    { kind: 'embedding', shape: [V, H], what: 'the embedding' },
    { kind: 'mlp-weight', shape: [F, H], what: 'an MLP weight' },
  ];
  const sized = candidates.map((c) => ({ ...c, bytes: elements(c.shape) * F32 }));
  const largest = sized.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const dims = largest.kind === 'attention' ? `${s.microBatchSize} × ${nH} heads × ${T} × ${T}` : largest.shape.join(' × ');
  const largestTensor = { bytes: largest.bytes, kind: largest.kind, shape: largest.shape, what: `${largest.what} (${dims} f32)` };
  return {
    baseDtype: mode,
    placement,
    gradientCheckpointing: checkpointing,
    weightsBytes,
    hostWeightsBytes,
    loraBytes,
    optimizerBytes,
    activationsBytes,
    transientBytes,
    runtimeBytes,
    heapBytes,
    heapLimitBytes,
    totalBytes,
    availableBytes,
    machineBytes: totalmem(),
    largestTensor,
    fits: (heapLimitBytes === null || heapBytes <= heapLimitBytes) && totalBytes < availableBytes,
  };
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;

/**
 * The device a WebGPU adapter stands for. Memory figures come from nvidia-smi only for an NVIDIA adapter (the GPU
 * whose name matches the adapter's description, else the first); any other adapter's memory is unknown.
 */
export async function webgpuDeviceLimits(
  adapter: AdapterDescription,
  stats: () => Promise<GpuStats> = () => readGpuStats(),
): Promise<DeviceLimits> {
  const name = adapter.description || `${adapter.vendor} ${adapter.architecture}`.trim();
  const limits = {
    name,
    maxBindingBytes: Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize),
    maxBufferBytes: adapter.limits.maxBufferSize,
  };
  if (adapter.isFallback)
    return { ...limits, totalBytes: null, freeBytes: null, memorySource: 'unknown (a software adapter: it computes in RAM)' };
  if (!/nvidia/i.test(`${adapter.vendor} ${adapter.description}`))
    return {
      ...limits,
      totalBytes: null,
      freeBytes: null,
      memorySource: 'unknown (WebGPU does not report device memory; nvidia-smi only knows NVIDIA GPUs)',
    };
  const s = await stats();
  if (!s.available) return { ...limits, totalBytes: null, freeBytes: null, memorySource: `unknown (${s.message})` };
  const gpu = s.gpus.find((g) => adapter.description && g.name.includes(adapter.description)) ?? s.gpus[0];
  return { ...limits, ...gpuMemoryBytes(gpu), memorySource: `nvidia-smi, GPU ${gpu.index} (${gpu.name})` };
}

/**
 * Why a training step cannot run on the device, or undefined when nothing known stands in the way: the estimate
 * against the free (else total) device memory when known, and the largest tensor against the binding limit.
 */
export function deviceRefusal(
  est: MemoryEstimate,
  device: DeviceLimits,
  s: { microBatchSize: number; cutoffLen: number },
): string | undefined {
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
    problems.push(
      `${est.largestTensor.what} takes ${gib(est.largestTensor.bytes)}, more than the ${gib(device.maxBindingBytes)} one buffer may hold (maxStorageBufferBindingSize / maxBufferSize)`,
    );
  }
  if (problems.length === 0) return undefined;
  return `training does not fit on the WebGPU device ${device.name}: ${problems.join('; ')}. Lower micro_batch_size (${s.microBatchSize}) or cutoff_len (${s.cutoffLen}).`;
}

/** The mode a run uses, with the estimate behind the choice and a sentence saying why. */
interface BaseDtypeDecision {
  mode: BaseDtype;
  estimate: MemoryEstimate;
  why: string;
  /** Set when the choice fits the machine but not its free memory right now. */
  warning?: string;
}

/** The figures of an estimate, for messages: what the heap (or device) holds and what lives in JS memory. */
function describeEstimate(e: MemoryEstimate): string {
  const heap = e.heapLimitBytes === null ? '' : ` of the wasm heap's ${gib(e.heapLimitBytes)}`;
  return (
    `base_dtype ${e.baseDtype}: ${gib(e.totalBytes)} in all; ${gib(e.heapBytes)}${heap} in the backend (activations ${gib(e.activationsBytes)}, ` +
    `LoRA + optimizer ${gib(e.loraBytes + e.optimizerBytes)}, weights ${gib(e.weightsBytes - e.hostWeightsBytes)}` +
    `), ${gib(e.hostWeightsBytes)} of frozen weights outside it, ${gib(e.transientBytes)} for one product's operands`
  );
}

const heapFits = (e: MemoryEstimate) => e.heapLimitBytes === null || e.heapBytes <= e.heapLimitBytes;

/**
 * Resolve base_dtype before loading. `auto` takes the first candidate (the checkpoint as stored, then int8, then nf4)
 * that fits the heap and the free RAM, else the first that fits the heap and the machine's RAM (with a warning). A
 * named mode, or auto with nothing left, is refused with the figures when it cannot fit: before step 1, not mid-step.
 */
export function chooseBaseDtype(
  config: LlamaConfig,
  wanted: BaseDtypeChoice,
  plan: { native: 'f32' | 'bf16' | 'f16'; backendName: string; candidates: BaseDtype[] },
  workload: Workload,
  where: string,
): BaseDtypeDecision {
  const tried = (wanted === 'auto' ? plan.candidates : [wanted]).map((mode) =>
    estimateTrainingMemory(config, { ...workload, baseDtype: mode, native: plan.native, backendName: plan.backendName }),
  );
  // On WebGPU the weights and activations live on the device: its own check (deviceRefusal) runs once it is known.
  const onDevice = plan.backendName === 'webgpu';
  const now = tried.find((e) => e.fits || onDevice);
  const later = tried.find((e) => heapFits(e) && e.totalBytes < e.machineBytes);
  const pick = now ?? later;
  if (!pick) {
    throw new StudioError(
      `the model does not fit with these settings: ${tried.map(describeEstimate).join('; ')}; this machine has ${gib(tried[0].machineBytes)} of RAM. ` +
        `Lower lora_r (${workload.loraR}), micro_batch_size (${workload.microBatchSize}) or cutoff_len (${workload.cutoffLen})` +
        (wanted === 'auto' || wanted === 'nf4' ? '' : ', or choose a smaller base_dtype (int8, nf4)'),
      where,
      'train/memory',
    );
  }
  const skipped = tried
    .slice(0, tried.indexOf(pick))
    .map((e) => `${e.baseDtype} would not fit (${gib(e.heapBytes)} in the backend, ${gib(e.totalBytes)} in all)`);
  const why =
    wanted === 'auto'
      ? `base_dtype auto chose ${pick.baseDtype}${pick.baseDtype === plan.native ? ' (the checkpoint as stored)' : ''}${skipped.length ? `: ${skipped.join('; ')}` : ''}; ${describeEstimate(pick)}`
      : describeEstimate(pick);
  const warning =
    pick.fits || onDevice ? undefined : `${gib(pick.totalBytes)} estimated but only ${gib(pick.availableBytes)} of RAM is free now`;
  return { mode: pick.baseDtype, estimate: pick, why, warning };
}

/**
 * The estimate the wizard shows for a model folder, on the CPU path (wasm): the named mode, or the one auto would
 * choose; when nothing fits, the smallest mode's estimate (fits: false) rather than an error.
 */
export async function estimateForCheckpoint(
  dir: string,
  config: LlamaConfig,
  wanted: BaseDtypeChoice,
  workload: Workload,
): Promise<MemoryEstimate> {
  const source = await openCheckpoint(dir);
  let native: 'f32' | 'bf16' | 'f16';
  try {
    native = checkpointBaseDtype(source, dir);
  } finally {
    await source.close();
  }
  const backendName = 'wasm';
  if (wanted !== 'auto') return estimateTrainingMemory(config, { ...workload, baseDtype: wanted, native, backendName });
  try {
    return chooseBaseDtype(config, wanted, { native, backendName, candidates: autoCandidates(native) }, workload, dir).estimate;
  } catch (e) {
    if (!(e instanceof StudioError)) throw e;
    return estimateTrainingMemory(config, { ...workload, baseDtype: 'nf4', native, backendName });
  }
}
