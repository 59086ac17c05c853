import { create, globals } from 'webgpu';

/**
 * Features our kernels may ask dawn.node for, in order: each is requested together with those before it that worked
 * (the subgroup-matrix feature builds on subgroups and shader-f16), so a refusal names its feature.
 */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'];

/**
 * What the adapter offers, as JSON: info (vendor, architecture, description, subgroupMatrixConfigs), every feature and
 * numeric limit, and whether a device with each wanted feature can be created. `software` asks for SwiftShader.
 * `early` gets the adapter's description before any device is made: a driver that aborts on a feature leaves that.
 */
export async function probeAdapter(software: boolean, early: (o: object) => void = () => {}): Promise<Record<string, unknown>> {
  Object.assign(globalThis, globals);
  const gpu = create([]);
  const options: GPURequestAdapterOptions = software ? { forceFallbackAdapter: true } : { powerPreference: 'high-performance' };
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) return { found: false, vk_driver_files: process.env.VK_DRIVER_FILES ?? null, vk_icd_filenames: process.env.VK_ICD_FILENAMES ?? null };
  const info = adapter.info as GPUAdapterInfo & { subgroupMatrixConfigs?: unknown[]; isFallbackAdapter?: boolean };
  const limits: Record<string, number> = {};
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const features = [...adapter.features].map(String).sort();
  const description = {
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
    limits,
  };
  early(description);
  const device_features: Record<string, string> = {};
  const granted: GPUFeatureName[] = [];
  for (const f of WANTED_FEATURES as GPUFeatureName[]) {
    if (!features.includes(f)) {
      device_features[f] = 'not offered by the adapter';
      continue;
    }
    try {
      // An adapter makes one device (WebGPU then marks it consumed): each try gets a fresh one.
      const fresh = await gpu.requestAdapter(options);
      if (!fresh) throw new Error('the adapter went away');
      const device = await fresh.requestDevice({ requiredFeatures: [...granted, f] });
      device_features[f] = 'ok';
      granted.push(f);
      device.destroy();
    } catch (e) {
      device_features[f] = `refused: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  return { ...description, device_features };
}
/** dawn.node's config objects keep their fields as getters, which JSON.stringify does not see. */
function plainConfig(c: unknown): Record<string, unknown> {
  const o = c as Record<string, unknown>;
  return Object.fromEntries(['componentType', 'resultComponentType', 'M', 'N', 'K'].map((k) => [k, o[k]]));
}
