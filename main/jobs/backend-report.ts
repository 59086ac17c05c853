import type { BackendReport } from '../contract/contract.ts';
import { backendInfo } from '../engine/backend/index.ts';
import { currentAdapter } from '../engine/backend/webgpu.ts';

/** The job's tfjs backend as the studio shows it, with the WebGPU adapter when there is one (undefined before a backend started). */
export function backendReport(): BackendReport | undefined {
  const info = backendInfo();
  if (!info) return undefined;
  const adapter = currentAdapter();
  if (!adapter) return { name: info.name, detail: info.detail };
  return {
    name: info.name,
    detail: info.detail,
    adapter: {
      vendor: adapter.vendor,
      architecture: adapter.architecture,
      description: adapter.description,
      software: adapter.isFallback,
      maxBindingBytes: adapter.limits.maxStorageBufferBindingSize,
      shaderF16: adapter.shaderF16,
    },
  };
}
