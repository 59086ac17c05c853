// Adapter description and the GPU device check, on fabricated adapters and /dev listings: no GPU needed.
import { describe, expect, it } from 'vitest';
import { adapterLine, describeAdapter, hasGpuDeviceNode } from '../../main/engine/backend/webgpu.ts';

const fake = (info: Partial<GPUAdapterInfo & { isFallbackAdapter: boolean }>, features: string[]) =>
  ({
    info,
    features: new Set(features),
    limits: { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31, maxComputeWorkgroupStorageSize: 32768 },
  }) as unknown as GPUAdapter;

describe('WebGPU adapters', () => {
  it('are described with their limits and whether they have shader-f16', () => {
    const d = describeAdapter(
      fake({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100', isFallbackAdapter: false }, [
        'timestamp-query',
        'shader-f16',
      ]),
    );
    expect(d).toMatchObject({ vendor: 'nvidia', isFallback: false, shaderF16: true, features: ['shader-f16', 'timestamp-query'] });
    expect(d.limits).toEqual({ maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31, maxComputeWorkgroupStorageSize: 32768 });
    expect(adapterLine(d)).toBe('nvidia hopper (NVIDIA H100), max binding 2048 MiB, shader-f16');
    const sw = describeAdapter(
      fake({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0', isFallbackAdapter: true }, []),
    );
    expect(adapterLine(sw)).toBe('google swiftshader (SwiftShader driver 5.0.0, software), max binding 2048 MiB, no shader-f16');
  });

  it('are looked for on Linux only when a GPU device node exists', () => {
    const dev = (entries: Record<string, string[]>) => (dir: string) => entries[dir] ?? [];
    expect(hasGpuDeviceNode('linux', dev({ '/dev': ['null', 'tty'] }))).toBe(false);
    expect(hasGpuDeviceNode('linux', dev({ '/dev': ['null'], '/dev/dri': ['card0', 'renderD128'] }))).toBe(true);
    expect(hasGpuDeviceNode('linux', dev({ '/dev': ['nvidia0', 'nvidiactl'] }))).toBe(true);
    expect(hasGpuDeviceNode('linux', dev({ '/dev': ['dxg'] }))).toBe(true);
    expect(hasGpuDeviceNode('darwin', dev({}))).toBe(true);
  });
});
