import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { SUBGROUP_MATRIX_FEATURES } from './webgpu-subgroup-matmul.ts';
import type { AdapterDescription } from '../system/gpu-adapter.ts';

/**
 * WebGPU in Node through dawn.node (`webgpu` package): adapter discovery and description, and the tfjs-backend-webgpu
 * registration bound to the adapter we chose (tfjs's own factory would take whatever `requestAdapter()` returns).
 */

/** Debian's chromium ships SwiftShader's Vulkan ICD; with it dawn.node finds a software (fallback) adapter. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export type AdapterKind = 'hardware' | 'software';

/** LORA_STUDIO_MATMUL: which kernel serves frozen-weight products on WebGPU (webgpu-matmul-path.ts decides). */
const MATMUL_CHOICES = ['auto', 'tiled', 'subgroup-matrix'] as const;
type MatmulChoice = (typeof MATMUL_CHOICES)[number];

export function matmulChoice(env: NodeJS.ProcessEnv = process.env): MatmulChoice {
  const v = env.LORA_STUDIO_MATMUL || 'auto';
  if ((MATMUL_CHOICES as readonly string[]).includes(v)) return v as MatmulChoice;
  throw new StudioError(`LORA_STUDIO_MATMUL is "${v}"; use one of ${MATMUL_CHOICES.join(', ')}`, undefined, 'webgpu/matmul-choice');
}

let gpu: GPU | undefined;
/** The adapter tfjs-webgpu runs on, set when its device is created. */
let described: AdapterDescription | undefined;
let made: { adapter: GPUAdapter; device: GPUDevice } | undefined;

/**
 * dawn.node's GPU, created once per process. Vulkan reads VK_ICD_FILENAMES when the instance is created, so the
 * SwiftShader ICD is named here, and only when the user asked for the software adapter by name and set no ICD.
 */
async function dawn(kind: AdapterKind): Promise<GPU> {
  if (gpu) return gpu;
  if (kind === 'software' && !process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  // Vulkan's window-system code complains on stderr when a headless session has no runtime folder; give it a private one.
  if (process.platform === 'linux' && !process.env.XDG_RUNTIME_DIR)
    process.env.XDG_RUNTIME_DIR = mkdtempSync(path.join(os.tmpdir(), 'lora-studio-xdg-'));
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new Error(`the webgpu package (dawn.node) did not load: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  // tfjs-backend-webgpu uses the WebGPU globals (GPUBufferUsage, GPUMapMode, ...) as a browser has them.
  Object.assign(globalThis, mod.globals);
  // Subgroup matrices are an experimental feature Dawn only exposes behind allow_unsafe_apis; on NVIDIA it enables
  // shader-f16 (which they need) only with vulkan_enable_f16_on_nvidia. Not asked for when the tiled kernel is forced.
  gpu = mod.create(matmulChoice() === 'tiled' ? [] : ['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
  return gpu;
}

/** Describe an adapter for logs, the run record and the studio's GPU panel. */
export function describeAdapter(a: GPUAdapter): AdapterDescription {
  const info = a.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const features = [...a.features].map(String).sort();
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    // Older dawn builds put the flag on the adapter itself.
    isFallback: Boolean(info.isFallbackAdapter ?? (a as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    limits: {
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: a.limits.maxComputeWorkgroupStorageSize,
    },
    features,
    shaderF16: features.includes('shader-f16'),
  };
}

/** One line: `google swiftshader (SwiftShader driver 5.0.0, software), max binding 1024 MiB, no shader-f16`. */
export function adapterLine(d: AdapterDescription): string {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const name = [d.vendor, d.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  return `${name} (${d.description || 'no description'}${d.isFallback ? ', software' : ''}), max binding ${mib(d.limits.maxStorageBufferBindingSize)}, ${d.shaderF16 ? 'shader-f16' : 'no shader-f16'}`;
}

/**
 * On Linux a GPU shows as a device node (/dev/dri/renderD*, /dev/nvidia0, WSL's /dev/dxg). Without one there is no
 * hardware adapter to find, so we do not load dawn.node at all: it costs start-up time and its Vulkan drivers print
 * warnings on stderr while they look. Other systems (Metal, D3D12) are always probed.
 */
export function hasGpuDeviceNode(platform = process.platform, list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : [])): boolean {
  if (platform !== 'linux') return true;
  const dev = list('/dev');
  return dev.includes('nvidia0') || dev.includes('dxg') || list('/dev/dri').some((n) => n.startsWith('renderD'));
}

/**
 * Find the adapter of the kind asked for. `hardware` refuses a fallback adapter (SwiftShader would train ~100x slower
 * than wasm), saying how to ask for it; `software` takes the fallback adapter only.
 */
export async function findAdapter(kind: AdapterKind): Promise<{ adapter: GPUAdapter; description: AdapterDescription }> {
  if (kind === 'hardware' && !hasGpuDeviceNode()) {
    const software = existsSync(SWIFTSHADER_ICD) ? '; SwiftShader, a software one, is --backend webgpu-software' : '';
    throw new Error(`no hardware adapter (no GPU device in /dev: no /dev/dri/renderD*, /dev/nvidia0 or /dev/dxg${software})`);
  }
  const g = await dawn(kind);
  const found =
    kind === 'software'
      ? await g.requestAdapter({ forceFallbackAdapter: true })
      : await g.requestAdapter({ powerPreference: 'high-performance' });
  if (!found) {
    const hint =
      kind === 'software'
        ? existsSync(SWIFTSHADER_ICD)
          ? ` (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'}; is libvulkan1 installed?)`
          : ` (no SwiftShader ICD at ${SWIFTSHADER_ICD}: install chromium, or set VK_ICD_FILENAMES)`
        : ' (no Vulkan driver for a GPU here; is libvulkan1 and a GPU driver installed?)';
    throw new Error(`no ${kind} adapter${hint}`);
  }
  const description = describeAdapter(found);
  if (kind === 'hardware' && description.isFallback) {
    throw new Error(
      `no hardware adapter (only ${description.description || 'a fallback adapter'}, a software one; ask for --backend webgpu-software)`,
    );
  }
  return { adapter: found, description };
}

/**
 * Register tfjs-backend-webgpu's backend under 'webgpu', bound to `a`. The package registers its own factory on import
 * when `navigator.gpu` exists; we replace it so the adapter the user chose (hardware or software) is the one used.
 */
export async function registerWebgpuBackend(tf: typeof import('@tensorflow/tfjs'), a: GPUAdapter): Promise<void> {
  // Node 20 has no `navigator`; Node 21+ has one without `gpu`. The package checks `navigator.gpu` to register kernels.
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GPU };
  if (!nav.gpu) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend(
    'webgpu',
    async () => {
      const l = a.limits;
      // The same features and limits tfjs's own factory asks for (base.ts in tfjs-backend-webgpu 4.22).
      // Plus what the subgroup-matrix matmul needs, when the adapter has all of it (webgpu-matmul-path.ts tests it).
      const subgroupMatrix =
        matmulChoice() !== 'tiled' && SUBGROUP_MATRIX_FEATURES.every((f) => a.features.has(f)) ? SUBGROUP_MATRIX_FEATURES : [];
      const requiredFeatures = (['timestamp-query', 'bgra8unorm-storage', ...subgroupMatrix] as GPUFeatureName[]).filter((f) =>
        a.features.has(f),
      );
      const device = await a.requestDevice({
        requiredFeatures,
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      described = describeAdapter(a);
      made = { adapter: a, device };
      return new WebGPUBackend(device, a.info);
    },
    3,
  );
}

/** The adapter tfjs-webgpu runs on, once the backend started (undefined otherwise). */
export function currentAdapter(): AdapterDescription | undefined {
  return described;
}

/** The adapter and device tfjs-webgpu runs on, once the backend started (for kernels that check features). */
export function currentGpu(): { adapter: GPUAdapter; device: GPUDevice } | undefined {
  return made;
}
