import { create, globals } from 'webgpu';

/** Features dawn.node must enable on the device for our kernels: probed one by one, so a refusal names its feature. */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'];

/**
 * What the adapter offers, as JSON: info (vendor, architecture, description, subgroupMatrixConfigs), every feature and
 * numeric limit, and whether a device with each wanted feature can be created. `software` asks for SwiftShader.
 */
export async function probeAdapter(software: boolean): Promise<Record<string, unknown>> {
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const adapter = await gpu.requestAdapter(software ? { forceFallbackAdapter: true } : { powerPreference: 'high-performance' });
  if (!adapter) return { found: false, vk_driver_files: process.env.VK_DRIVER_FILES ?? null, vk_icd_filenames: process.env.VK_ICD_FILENAMES ?? null };
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: unknown[]; isFallbackAdapter?: boolean };
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const features = [...adapter.features].map(String).sort();
  const device_features: Record<string, string> = {};
  for (const f of WANTED_FEATURES) {
    if (!features.includes(f)) {
      device_features[f] = 'not offered by the adapter';
      continue;
    }
    try {
      const device = await adapter.requestDevice({ requiredFeatures: [f as GPUFeatureName] });
      device_features[f] = 'ok';
      device.destroy();
    } catch (e) {
      device_features[f] = `refused: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  return {
    found: true,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    is_fallback: Boolean(info.isFallbackAdapter),
    subgroup_min_size: (info as unknown as { subgroupMinSize?: number }).subgroupMinSize ?? null,
    subgroup_max_size: (info as unknown as { subgroupMaxSize?: number }).subgroupMaxSize ?? null,
    subgroup_matrix_configs: info.subgroupMatrixConfigs ? [...info.subgroupMatrixConfigs].map(plainConfig) : null,
    features,
    device_features,
    limits,
  };
}

/** dawn.node's config objects keep their fields as getters, which JSON.stringify does not see. */
function plainConfig(c: unknown): Record<string, unknown> {
  const o = c as Record<string, unknown>;
  return Object.fromEntries(['componentType', 'resultComponentType', 'M', 'N', 'K'].map((k) => [k, o[k]]));
}
