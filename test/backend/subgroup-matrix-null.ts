// The child side of the subgroup-matrix compile check (webgpu-packed-matmul.test.ts): Dawn's null backend offers every
// feature, chromium-experimental-subgroup-matrix included, but runs nothing. tfjs-backend-webgpu is started on it and
// every subgroup-matrix program (each storage mode, both directions, two configs, one and four subgroups a workgroup) is built exactly as a run builds it;
// Tint's diagnostics (errors, warnings such as a deprecated builtin) are collected and written as JSON to argv[2].
// SwiftShader has no subgroup matrices, so this is the only check of the WGSL short of a GPU that has them.
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { BASE_DTYPES } from '../../main/engine/llama/base-dtype-names.ts';
import { packedTensors, packForGpu, subgroupProduct } from '../../main/engine/backend/webgpu-packed-matmul.ts';
import { runProgram } from '../../main/engine/backend/webgpu-program.ts';
import { SUBGROUP_MATRIX_FEATURES, subgroupMatmulProgram, type SubgroupSetup } from '../../main/engine/backend/webgpu-subgroup-matmul.ts';
import { shapeUniforms } from '../../main/engine/backend/webgpu-tiled-matmul.ts';

const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const gpu = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']);
Object.defineProperty(((globalThis as { navigator?: object }).navigator ??= {}), 'gpu', { value: gpu, configurable: true });
const adapter = (await gpu.requestAdapter())!;
const device = await adapter.requestDevice({ requiredFeatures: [...SUBGROUP_MATRIX_FEATURES] as GPUFeatureName[] });
const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
tf.registerBackend('webgpu', () => new WebGPUBackend(device, adapter.info));
await tf.setBackend('webgpu');

const modules: GPUShaderModule[] = [];
const createShaderModule = device.createShaderModule.bind(device);
device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
  const m = createShaderModule(d);
  modules.push(m);
  return m;
};
device.pushErrorScope('validation');
const subgroupSize = (adapter.info as GPUAdapterInfo & { subgroupMaxSize?: number }).subgroupMaxSize ?? 32;
// One subgroup a workgroup (the adapter's max subgroup size), and four of a quarter that size (same workgroup size).
const setups: SubgroupSetup[] = [
  { M: 16, N: 16, K: 16, subgroupSize, subgroups: 1 },
  { M: 8, N: 8, K: 8, subgroupSize, subgroups: 1 },
  { M: 8, N: 8, K: 8, subgroupSize: subgroupSize / 4, subgroups: 4 }, // (16×16×16 would need 24 KiB; this adapter has 16)
];
for (const setup of setups) {
  for (const dtype of BASE_DTYPES) {
    const m = packForGpu(storeMatrix(new Float32Array(70 * 44).fill(0.5), 70, 44, dtype));
    subgroupProduct(tf.ones([37, 44]), m, 'forward', setup).dispose();
    subgroupProduct(tf.ones([37, 70]), m, 'backward', setup).dispose();
  }
}
await device.queue.onSubmittedWorkDone();
const validation = await device.popErrorScope();
const diagnostics = async (ms: GPUShaderModule[]) =>
  (await Promise.all(ms.map((m) => m.getCompilationInfo()))).flatMap((info) => info.messages.map((x) => `${x.type}: ${x.message}`));
const messages = await diagnostics(modules);

// A control, so the check can fail: the same program with one operand of the wrong type must be rejected.
const control = subgroupMatmulProgram(37, { dtype: 'int8', rows: 70, cols: 44 }, 'forward', setups[0]);
const source = control.getUserCode();
control.getUserCode = () => source.replace(/subgroup_matrix_right<f16/g, 'subgroup_matrix_right<f32');
control.shaderKey += '-control';
const before = modules.length;
device.pushErrorScope('validation');
const m = packForGpu(storeMatrix(new Float32Array(70 * 44).fill(0.5), 70, 44, 'int8'));
runProgram(control, [tf.ones([37, 44]), tf.ones([37]), ...packedTensors(m)], shapeUniforms(m)).dispose();
await device.queue.onSubmittedWorkDone();
const controlError = (await device.popErrorScope())?.message ?? null;
writeFileSync(
  process.argv[2],
  JSON.stringify({
    modules: before,
    validation: validation?.message ?? null,
    messages,
    control: { error: controlError, messages: await diagnostics(modules.slice(before)) },
  }),
);
process.exit(0);
