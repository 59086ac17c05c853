// `npm run bench -- gpu-profile [flags]`: every GPU dispatch of one LoRA training step (forward, backward, gradient
// clipping, AdamW) on a WebGPU adapter, with its FLOPs and bytes, and the step time predicted for a machine.
// A full-width model of N layers is profiled as 1- and 2-layer slices and scaled (per program: one + (N−1)·(two − one)),
// so a TinyLlama-sized step needs only its shapes; on a software adapter the programs run on one workgroup each.
//   --shape tinyllama-1.1b|llama-7b|…  --batch 4 --seq 256 --r 16 --targets q_proj,k_proj,v_proj,o_proj --base f16
//   --tflops 25 --tbps 3.0 --dispatch-us 6      the machine (defaults: an H200 running f32 WGSL, see profile-step.ts)
//   --backend webgpu|webgpu-software            default: webgpu where a GPU device exists
//   --execute true|false                        run every workgroup (default: only on a hardware adapter)
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../../main/engine/backend/index.ts';
import { hasGpuDeviceNode } from '../../main/engine/backend/webgpu.ts';
import type { BackendChoice } from '../../main/engine/backend/choices.ts';
import { describeStep } from './predict.ts';
import { H200_F32_WGSL, profileTrainingStep } from './profile-step.ts';

const flags = parseFlags(process.argv.slice(3));
const backend = await initBackend((flags.backend ?? (hasGpuDeviceNode() ? 'webgpu' : 'webgpu-software')) as BackendChoice);
const started = performance.now();
const result = await profileTrainingStep(
  {
    shape: flags.shape ?? 'tinyllama-1.1b',
    batch: Number(flags.batch ?? 4),
    seq: Number(flags.seq ?? 256),
    r: Number(flags.r ?? 16),
    targets: (flags.targets ?? 'q_proj,k_proj,v_proj,o_proj').split(','),
    base: flags.base ?? 'f16',
    execute: flags.execute ? flags.execute === 'true' : !backend.detail.includes('software'),
  },
  {
    flopsPerSecond: flags.tflops ? Number(flags.tflops) * 1e12 : H200_F32_WGSL.flopsPerSecond,
    bytesPerSecond: flags.tbps ? Number(flags.tbps) * 1e12 : H200_F32_WGSL.bytesPerSecond,
    dispatchSeconds: flags['dispatch-us'] ? Number(flags['dispatch-us']) * 1e-6 : H200_F32_WGSL.dispatchSeconds,
  },
);
const s = result.settings;
const title = `${s.shape} (${s.layers} layers, from 1- and 2-layer slices), micro batch ${s.batch} × ${s.seq}, LoRA r ${s.r} on ${s.targets.join(',')}, base ${s.base}, matmul ${s.matmul}`;
const lines = [
  `dispatch profile on ${backend.detail}${s.execute ? '' : ' (programs dispatched on one workgroup: shapes only)'}, ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ...describeStep(title, result.step, s.batch * s.seq, result.machine),
];
if (result.measuredStepSeconds !== undefined)
  lines.push(`  measured on this adapter (slices scaled the same way): ${(result.measuredStepSeconds * 1000).toFixed(1)} ms a step`);
console.log(lines.join('\n'));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
const out = path.join(root, 'bench/results', `gpu-profile-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ backend: backend.detail, ...result }, null, 2));
console.log(`\nwritten: ${path.relative(root, out)}`);

function parseFlags(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('--') || i + 1 >= args.length)
      throw new Error(`gpu-profile: expected --flag value, got ${args.slice(i).join(' ')}`);
    out[args[i].slice(2)] = args[++i];
  }
  return out;
}
