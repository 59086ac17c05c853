import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGpuKit, KIT_MAX_BYTES } from '../../bench/gpu-kit/build.ts';
import { SWIFTSHADER_ICD } from '../../main/engine/backend/webgpu.ts';
import { missingTorch } from '../helpers/torch.ts';

function missingSwiftShader(): string | undefined {
  if (existsSync(SWIFTSHADER_ICD)) return undefined;
  const reason = `skipped: the GPU kit's dry run needs SwiftShader's Vulkan ICD at ${SWIFTSHADER_ICD} (apt-get install chromium)`;
  console.warn(reason);
  return reason;
}

interface Part {
  part: string;
  label: string;
  lora: string;
  result: Record<string, unknown>;
}

// Builds the kit as `npm run gpu-kit` does (xz -0 instead of -6, so seconds rather than minutes) into a temporary
// folder, and runs its dry mode from the repository root, as the device tool runs a carried gpu-kit/: SwiftShader for
// the GPU, torch on the CPU. So the kit cannot rot: a broken bundle, unpack step, check or training row fails here.
describe.skipIf(missingSwiftShader() ?? missingTorch())('GPU kit', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'gpu-kit-test-'));
  const kit = path.join(work, 'gpu-kit');
  const out = path.join(work, 'out');
  let bytes = 0;
  let run: ReturnType<typeof spawnSync>;
  let parts: Part[] = [];
  beforeAll(async () => {
    ({ bytes } = await buildGpuKit({ dir: kit, xzLevel: 0, log: () => {} }));
    // The correctness check and the q,k,v,o rows only, with room for SwiftShader's shader compiles on a busy machine.
    run = spawnSync('bash', [path.join(kit, 'run.sh'), '--dry', out], {
      encoding: 'utf8',
      env: { ...process.env, KIT_ONLY: 'check qkvo', KIT_BUDGET_S: '300' },
    });
    if (existsSync(path.join(out, 'results.jsonl')))
      parts = readFileSync(path.join(out, 'results.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Part);
  }, 480_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('packs node, dawn.node, the bundle, the Vulkan loader, the PyTorch scripts and run.sh within its size', () => {
    const files = readdirSync(kit);
    for (const f of ['node.xz', 'dawn.node.xz', 'kit-main.mjs', 'run.sh', 'torch_kit.py', 'torch_llama_lora.py', 'MANIFEST.json'])
      expect(files).toContain(f);
    expect(files.some((f) => /^libvulkan1_.*_amd64\.deb$/.test(f))).toBe(true);
    expect(bytes).toBeLessThanOrEqual(KIT_MAX_BYTES);
  });

  it('runs its dry mode to the end, writing the log, the results and the summary', () => {
    expect(run.status, String(run.stdout).slice(-3000)).toBe(0);
    for (const f of ['run.log', 'results.jsonl', 'probe.json', 'summary.md']) expect(existsSync(path.join(out, f)), f).toBe(true);
    expect(readFileSync(path.join(out, 'summary.md'), 'utf8')).toContain('| correctness vs PyTorch |');
  });

  it('finds the SwiftShader adapter and lists its features, limits and subgroup-matrix configs', () => {
    const probe = JSON.parse(readFileSync(path.join(out, 'probe.json'), 'utf8'));
    expect(probe).toMatchObject({ found: true, is_fallback: true });
    expect(probe.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(probe.subgroup_matrix_configs)).toBe(true);
    expect(probe.device_features['chromium-experimental-subgroup-matrix']).toBeDefined();
  });

  it('matches PyTorch on logits and LoRA gradients', () => {
    const check = parts.find((p) => p.part === 'check');
    expect(check?.result).toMatchObject({ pass: true });
    expect(check?.result.grads_rel_diff as number).toBeLessThan(1e-3);
  });

  it('times our LoRA training, and says why each PyTorch + PEFT row is missing where it is', () => {
    const ours = parts.find((p) => p.part === 'ours' && p.label === 'f16 tiled');
    expect(ours?.result.tokens_per_second as number).toBeGreaterThan(0);
    const torch = parts.filter((p) => p.part === 'torch');
    expect(torch.map((p) => p.label)).toEqual(['bf16', 'fp32']);
    for (const p of torch)
      expect(typeof p.result.tokens_per_second === 'number' || /transformers|peft/.test(String(p.result.skipped))).toBe(true);
  });
});
