// The WebGPU memory guard's decision, on fabricated adapters and nvidia-smi readings: no GPU needed.
import { describe, expect, it } from 'vitest';
import { LLAMA_7B_SHAPE, TINYLLAMA_1B_SHAPE, syntheticConfigJson } from '../../main/engine/synthetic/synthetic-model.ts';
import type { AdapterDescription } from '../../main/engine/system/gpu-adapter.ts';
import { parseLlamaConfig } from '../../main/engine/llama/config.ts';
import { deviceRefusal, estimateTrainingMemory, webgpuDeviceLimits, type DeviceLimits } from '../../main/engine/system/memory-estimate.ts';
import type { GpuStats } from '../../main/engine/system/gpu-stats.ts';

const GiB = 2 ** 30;
const llama7b = parseLlamaConfig(syntheticConfigJson(LLAMA_7B_SHAPE));
const tinyLlama = parseLlamaConfig(syntheticConfigJson(TINYLLAMA_1B_SHAPE));
const settings = (microBatchSize: number, cutoffLen: number) => ({
  microBatchSize,
  cutoffLen,
  loraR: 8,
  targetModules: ['q_proj', 'v_proj'] as const,
});

function adapter(over: Partial<AdapterDescription> = {}, binding = 2 * GiB): AdapterDescription {
  return {
    vendor: 'nvidia',
    architecture: 'hopper',
    description: 'NVIDIA H100 80GB HBM3',
    isFallback: false,
    limits: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: binding, maxComputeWorkgroupStorageSize: 32768 },
    features: ['shader-f16'],
    shaderF16: true,
    ...over,
  };
}
const smi =
  (usedMiB: number, totalMiB: number): (() => Promise<GpuStats>) =>
  async () => ({
    available: true,
    gpus: [
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        memoryUsedMiB: usedMiB,
        memoryTotalMiB: totalMiB,
        utilizationPercent: 0,
        temperatureC: 30,
        powerDrawW: 70,
      },
    ],
  });

describe('WebGPU device limits', () => {
  it('take total and free memory from nvidia-smi for an NVIDIA adapter, and the binding limit from the adapter', async () => {
    const d = await webgpuDeviceLimits(adapter(), smi(1024, 81559));
    expect(d.totalBytes).toBe(81559 * 2 ** 20);
    expect(d.freeBytes).toBe((81559 - 1024) * 2 ** 20);
    expect(d.maxBindingBytes).toBe(2 * GiB); // min(maxStorageBufferBindingSize, maxBufferSize)
    expect(d.memorySource).toMatch(/nvidia-smi, GPU 0/);
  });

  it('say the memory is unknown for other adapters, or when nvidia-smi is missing', async () => {
    const amd = await webgpuDeviceLimits(adapter({ vendor: 'amd', description: 'AMD Radeon' }), smi(0, 1));
    expect(amd).toMatchObject({ totalBytes: null, freeBytes: null });
    expect(amd.memorySource).toMatch(/unknown/);
    const noSmi = await webgpuDeviceLimits(adapter(), async () => ({
      available: false,
      gpus: [],
      reason: 'no-nvidia-smi',
      message: 'No NVIDIA GPU: nvidia-smi was not found on this machine.',
    }));
    expect(noSmi.memorySource).toMatch(/unknown \(No NVIDIA GPU: nvidia-smi was not found/);
    const swiftshader = await webgpuDeviceLimits(
      adapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', isFallback: true }, GiB),
    );
    expect(swiftshader).toMatchObject({ totalBytes: null, maxBindingBytes: GiB });
  });
});

describe('the WebGPU training guard', () => {
  const device = (free: number | null, binding: number): DeviceLimits => ({
    name: 'NVIDIA H100 80GB HBM3',
    totalBytes: free === null ? null : 80 * GiB,
    freeBytes: free,
    memorySource: 'nvidia-smi, GPU 0',
    maxBindingBytes: binding,
    maxBufferBytes: 4 * GiB,
  });

  it('lets a run through that fits', () => {
    const est = estimateTrainingMemory(tinyLlama, settings(1, 512));
    expect(est.totalBytes).toBeLessThan(79 * GiB);
    expect(deviceRefusal(est, device(79 * GiB, 2 * GiB), settings(1, 512))).toBeUndefined();
    // LLaMA-7B keeps W and Wᵀ in f32 (~50 GiB) and does not fit in 79 GiB with its activations at 1 × 512.
    expect(deviceRefusal(estimateTrainingMemory(llama7b, settings(1, 512)), device(79 * GiB, 2 * GiB), settings(1, 512))).toMatch(
      /exceeds the 79\.00 GiB free/,
    );
  });

  it('refuses when the estimate exceeds the free device memory, naming the figures and what to lower', () => {
    const est = estimateTrainingMemory(llama7b, settings(8, 2048));
    const why = deviceRefusal(est, device(30 * GiB, 16 * GiB), settings(8, 2048));
    expect(why).toMatch(
      /^training does not fit on the WebGPU device NVIDIA H100 80GB HBM3: the estimated training memory, \d+\.\d\d GiB \(weights 49\.\d\d GiB, activations/,
    );
    expect(why).toMatch(/exceeds the 30\.00 GiB free of 80\.00 GiB \(nvidia-smi, GPU 0\)/);
    expect(why).toMatch(/Lower micro_batch_size \(8\) or cutoff_len \(2048\)\.$/);
  });

  it('refuses when one tensor exceeds the binding limit even with the memory unknown', () => {
    // Logits 4 × 4096 × 32000 f32 = 1.95 GiB; attention 4 × 32 × 4096² f32 = 8 GiB: the largest, over a 2 GiB binding.
    const est = estimateTrainingMemory(llama7b, settings(4, 4096));
    expect(est.largestTensor.what).toMatch(/attention probabilities/);
    const why = deviceRefusal(est, device(null, 2 * GiB), settings(4, 4096));
    expect(why).toMatch(
      /the attention probabilities of one layer \(4 × 32 heads × 4096 × 4096 f32\) takes 8\.00 GiB, more than the 2\.00 GiB one buffer may hold/,
    );
    expect(why).not.toMatch(/estimated training memory/); // memory unknown: no claim about it
    // Short rows: the logits are the largest tensor.
    const short = estimateTrainingMemory(llama7b, settings(64, 128));
    expect(short.largestTensor).toMatchObject({
      kind: 'logits',
      shape: [64, 128, 32000],
      bytes: 64 * 128 * 32000 * 4,
      what: 'the logits of one micro-batch (64 × 128 × 32000 f32)',
    });
    expect(deviceRefusal(short, device(null, GiB / 2), settings(64, 128))).toMatch(
      /the logits of one micro-batch \(64 × 128 × 32000 f32\) takes 0\.98 GiB, more than the 0\.50 GiB/,
    );
    expect(deviceRefusal(short, device(null, GiB), settings(64, 128))).toBeUndefined();
  });
});

describe('frozen weights in 16-bit storage (WebGPU)', () => {
  it('count 2 bytes a projection or lm_head weight (plus the f32 embedding and norms) instead of f32 W and Wᵀ', () => {
    const f32 = estimateTrainingMemory(tinyLlama, settings(4, 512));
    const f16 = estimateTrainingMemory(tinyLlama, { ...settings(4, 512), baseDtype: 'f16', backendName: 'webgpu' });
    const { vocabSize: V, hiddenSize: H, numLayers: L } = tinyLlama;
    const projections = L * (2 * H * H + 2 * 256 * H + 3 * 5632 * H); // q, o: H×H; k, v: 4 KV heads × 64; MLP: 3 × F×H
    expect(f16.weightsBytes).toBe((projections + V * H) * 2 + (V * H + (2 * L + 1) * H) * 4);
    expect(f16.weightsBytes / f32.weightsBytes).toBeLessThan(0.3);
    expect(f16.activationsBytes).toBe(f32.activationsBytes);
  });
});
