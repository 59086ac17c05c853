import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { loadNativeAddon } from '../../main/engine/cpu-kernels/native-addon.ts';

// The CPU path end to end, through the CLI in child processes (the kernel choice is made once per process): the
// loss curve of the native kernels (and of the wasm kernels they fall back to) against tfjs's matMul path, each
// fallback (no addon, no OpenBLAS, no relaxed SIMD) recorded in the log and config.json, an exact resume on 2
// threads, and a stopped or killed run that leaves no thread behind.

// The addon is built at install where a compiler is (native-build.test.ts holds the install to that); without it
// the default path is the wasm kernels, and these tests say so.
const native = loadNativeAddon();
// LORA_STUDIO_CPU_MATMUL set for the whole suite (a run on the wasm kernels) makes them the default, and the automatic
// fallbacks below do not happen
const forced = (process.env.LORA_STUDIO_CPU_MATMUL ?? 'auto') !== 'auto';
const defaultKernel = native.addon && !forced ? /^native-openblas$/ : /^wasm-(relaxed-simd|simd128)$/;
if (!native.addon) console.warn(`the default CPU path here is the wasm kernels: ${native.reason}`);
const HIDE_ADDON = { LORA_STUDIO_NATIVE_ADDON: '/nonexistent/lora_studio_cpu.node' };

let modelDir: string;
const dataFile = tinyAlpacaFile(64, 'en');

function finetuneArgs(out: string, extra: string[] = []) {
  // prettier-ignore
  return [
    'bin/lora-studio.mjs', 'finetune', '--base_model', modelDir, '--data_path', dataFile, '--output_dir', out,
    '--prompt_template_name', 'alpaca_short', '--batch_size', '4', '--micro_batch_size', '2', '--cutoff_len', '64',
    '--val_set_size', '0', '--max_steps', '8', '--warmup_steps', '2', '--learning_rate', '3e-3', '--save_steps', '4',
    '--logging_steps', '1', '--lora_dropout', '0.05', '--backend', 'wasm', '--threads', '2', ...extra,
  ];
}

interface Run {
  code: number | null;
  signal: string | null;
  stderr: string;
  pid: number;
}

/** Run the CLI; `onStep` may signal the child once its first step is reported. */
function run(args: string[], env: Record<string, string> = {}, onStep?: (pid: number) => void): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    let stepped = false;
    child.stderr.on('data', (d) => {
      stderr += d;
      if (onStep && !stepped && /\d+\/\d+ loss/.test(stderr)) {
        stepped = true;
        onStep(child.pid!);
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, stderr, pid: child.pid! }));
  });
}

const losses = (out: string) =>
  readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; loss?: number })
    .filter((e) => e.type === 'step')
    .map((e) => e.loss!);
const config = (out: string) => JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;

describe('frozen products on the CPU GEMM kernels', () => {
  beforeAll(async () => {
    modelDir = await tinyModel();
  });

  it.each([
    ['f32', 'the default (native) kernels', {}, defaultKernel],
    ['int8', 'the default (native) kernels', {}, defaultKernel],
    ['nf4', 'the default (native) kernels', {}, defaultKernel],
    ['f32', 'the wasm kernels', HIDE_ADDON, /^wasm-(relaxed-simd|simd128)$/],
  ] as const)(
    'over a %s base, %s give the loss curve of the tfjs path within 1e-4 relative over 8 steps, and say which ran',
    async (base, _name, env, kernel) => {
      const ours = mkdtempSync(path.join(tmpdir(), `gemm-${base}-`));
      const old = mkdtempSync(path.join(tmpdir(), `tfjs-${base}-`));
      const [a, b] = await Promise.all([
        run(finetuneArgs(ours, ['--base_dtype', base]), env),
        run(finetuneArgs(old, ['--base_dtype', base]), { LORA_STUDIO_CPU_MATMUL: 'tfjs' }),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(config(ours).matmul_kernel).toMatch(kernel);
      expect(a.stderr).toMatch(new RegExp(`frozen-weight matmuls: ${config(ours).matmul_kernel} kernel \\(`));
      expect(config(old).matmul_kernel).toBe('tfjs');
      expect(config(old).matmul_reason).toMatch(/LORA_STUDIO_CPU_MATMUL=tfjs/);
      const [x, y] = [losses(ours), losses(old)];
      expect(x.length).toBe(8);
      for (let i = 0; i < 8; i++) expect(Math.abs(x[i] - y[i]) / Math.abs(y[i]), `step ${i + 1}: ${x[i]} vs ${y[i]}`).toBeLessThan(1e-4);
    },
    300_000,
  );

  it.each([
    [
      'without the addon',
      HIDE_ADDON,
      'wasm-relaxed-simd',
      /^native kernels unavailable: LORA_STUDIO_NATIVE_ADDON=\/nonexistent\/lora_studio_cpu.node does not exist; (the runtime has relaxed SIMD|relaxed SIMD turned on with V8's flag \(Node [\d.]+\))$/,
    ],
    [
      'without OpenBLAS',
      { LORA_STUDIO_OPENBLAS: '/nonexistent/libopenblas.so.0' },
      'wasm-relaxed-simd',
      /^native kernels unavailable: OpenBLAS could not be loaded: \/nonexistent\/libopenblas.so.0: cannot open shared object file/,
    ],
    [
      'without the addon, on a runtime without relaxed SIMD',
      { ...HIDE_ADDON, LORA_STUDIO_SIMULATE_NO_RELAXED_SIMD: '1' },
      'wasm-simd128',
      /^native kernels unavailable: .* does not exist; this runtime \(Node [\d.]+\) has no relaxed SIMD: SIMD128 multiply-add instead$/,
    ],
  ])(
    'fall back %s, and say so in the log and config.json',
    async (_name, env, kernel, reason) => {
      if (!native.addon && !('LORA_STUDIO_NATIVE_ADDON' in env)) return; // no addon to hide OpenBLAS from
      if (forced) return; // the kernels are named: nothing falls back
      const out = mkdtempSync(path.join(tmpdir(), 'gemm-fallback-'));
      const r = await run(finetuneArgs(out, ['--max_steps', '2']), env);
      expect(r.code, r.stderr).toBe(0);
      expect(config(out).matmul_kernel).toBe(kernel);
      expect(config(out).matmul_reason).toMatch(reason);
      expect(r.stderr).toContain(`frozen-weight matmuls: ${kernel} kernel (${config(out).matmul_reason as string})`);
    },
    120_000,
  );

  it('resume bit for bit on 2 threads: killed after its step-4 checkpoint, resumed, it ends as 8 steps in one go', async () => {
    const straight = mkdtempSync(path.join(tmpdir(), 'gemm-straight-'));
    const split = mkdtempSync(path.join(tmpdir(), 'gemm-split-'));
    let poll: NodeJS.Timeout | undefined;
    const [a, b] = await Promise.all([
      run(finetuneArgs(straight, ['--base_dtype', 'nf4'])),
      run(finetuneArgs(split, ['--base_dtype', 'nf4']), {}, (pid) => {
        poll = setInterval(() => {
          if (!existsSync(path.join(split, 'checkpoints', 'step-4'))) return;
          clearInterval(poll);
          process.kill(pid, 'SIGKILL');
        }, 20);
      }),
    ]);
    clearInterval(poll);
    expect(a.code, a.stderr).toBe(0);
    expect(b.signal, b.stderr).toBe('SIGKILL');
    const c = await run(finetuneArgs(split, ['--base_dtype', 'nf4', '--resume_from_checkpoint', 'true']));
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/resuming from .*step-4 at step 4/);
    const adapter = (out: string) => readFileSync(path.join(out, 'adapter', 'adapter_model.safetensors'));
    expect(Buffer.compare(adapter(split), adapter(straight))).toBe(0);
  }, 300_000);

  it.each(['SIGTERM', 'SIGKILL'] as const)(
    'a run stopped by %s mid-training ends with every thread of its pool within seconds',
    async (signal) => {
      const out = mkdtempSync(path.join(tmpdir(), 'gemm-stop-'));
      let stoppedAt = 0;
      const r = await run(finetuneArgs(out, ['--max_steps', '200']), {}, (pid) => {
        stoppedAt = Date.now();
        process.kill(pid, signal);
      });
      expect(r.signal ?? String(r.code), r.stderr).not.toBe('0');
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      // no thread of that process (its task list goes with it) is left
      expect(existsSync(`/proc/${r.pid}/task`)).toBe(false);
    },
    120_000,
  );
});
