import { z } from 'zod';
import { BASE_DTYPES } from '../llama/base-dtype-names.ts';

// The memory estimate's shape, owned here and imported by the studio's contract. Nothing from Node (the renderer
// imports the contract).

export type LargestTensorKind = 'logits' | 'attention' | 'mlp-activation' | 'embedding' | 'mlp-weight';

/** The training-memory estimate (the studio's finetune.estimate reply, without the GPU reading). */
export const memoryReportSchema = z.object({
  /** The frozen base's storage mode the estimate is for, and where its matrices live (device: backend tensors). */
  baseDtype: z.enum(BASE_DTYPES),
  placement: z.enum(['device', 'host']),
  /** Whether the step recomputes each layer in the backward pass, keeping one layer's activations instead of all. */
  gradientCheckpointing: z.boolean(),
  /**
   * Frozen weights as held: stored bytes in the CPU GEMM kernels' arena (the CPU backends' default) or on the host
   * (the tfjs path's large bases), f32 W and Wᵀ when resident (its small ones), packed halves on WebGPU.
   */
  weightsBytes: z.number(),
  /** Of those, what lives in JS memory, outside the backend's heap. */
  hostWeightsBytes: z.number(),
  /** LoRA A and B in f32. */
  loraBytes: z.number(),
  /** AdamW's two moments plus the accumulated gradient, per LoRA parameter. */
  optimizerBytes: z.number(),
  /** Activations kept for the backward pass of one micro-batch, logits included. */
  activationsBytes: z.number(),
  /**
   * One product's working memory: the CPU GEMM kernels' operands for the largest product (in their arena), or on the
   * tfjs path's host placement the largest matrix dequantized just in time (f32, in the heap). 0 elsewhere.
   */
  transientBytes: z.number(),
  /** The process itself on the CPU path (Node, V8, TensorFlow.js, and the JS buffer a host-held matrix is dequantized into); 0 on WebGPU, whose estimate is of the device's memory. */
  runtimeBytes: z.number(),
  /** What the backend's own memory must hold: resident weights, LoRA, optimizer, activations, the transient matrix. */
  heapBytes: z.number(),
  /** The wasm heap's 4 GiB on wasm; null where the backend has no such ceiling. */
  heapLimitBytes: z.number().nullable(),
  totalBytes: z.number(),
  /** What this machine has (free and total RAM); the wasm, cpu and node backends use it. */
  availableBytes: z.number(),
  machineBytes: z.number(),
  /** The largest single tensor of a step: on WebGPU one buffer must hold it (maxStorageBufferBindingSize). */
  /** `kind` and `shape` let a UI say it in its own language; `what` says it in English. */
  largestTensor: z.object({
    bytes: z.number(),
    what: z.string(),
    kind: z.enum(['logits', 'attention', 'mlp-activation', 'embedding', 'mlp-weight']),
    shape: z.array(z.number()),
  }),
  /** Inside the heap limit and within the free RAM. */
  fits: z.boolean(),
});
export type MemoryEstimate = z.infer<typeof memoryReportSchema>;
