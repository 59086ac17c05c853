import { describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { cpuMatmulPath } from '../../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { hasGpuDeviceNode } from '../../main/engine/backend/webgpu.ts';
import { generate } from '../../main/engine/generate/generate.ts';
import { encodePrompt } from '../../main/engine/generate/side-by-side.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { runCli, startCli } from '../helpers/cli-process.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

describe('lora-studio command line', () => {
  it("finetune accepts Alpaca-LoRA's flags with their defaults in the help", async () => {
    const help = (await runCli(['finetune', '--help'])).stdout;
    for (const flag of [
      '--base_model',
      '--data_path',
      '--output_dir',
      '--batch_size',
      '--micro_batch_size',
      '--num_epochs',
      '--learning_rate',
      '--cutoff_len',
      '--val_set_size',
      '--lora_r',
      '--lora_alpha',
      '--lora_dropout',
      '--lora_target_modules',
      '--train_on_inputs',
      '--add_eos_token',
      '--group_by_length',
      '--resume_from_checkpoint',
      '--prompt_template_name',
      '--backend',
      '--seed',
      '--max_steps',
      '--eval_steps',
      '--save_steps',
      '--logging_steps',
      '--save_total_limit',
      '--warmup_steps',
      '--early_stopping_patience',
      '--config',
    ]) {
      expect(help).toContain(flag);
    }
    const flat = help.replace(/\s+/g, ' ');
    expect(flat).toContain('(default: 128)');
    expect(flat).toContain('(default: ["q_proj","v_proj"])');
  });

  it('reports bad input as one clear line and a non-zero exit', async () => {
    const r = await runCli([
      'finetune',
      '--base_model',
      '/nonexistent',
      '--data_path',
      '/nonexistent.json',
      '--batch_size',
      '3',
      '--micro_batch_size',
      '2',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('error: command line: batch_size (3) must be a multiple of micro_batch_size (2)');
    const r2 = await runCli(['inspect', workFolder('empty-model')]);
    expect(r2.code).toBe(2);
    expect(r2.stdout).toMatch(/config\.json: cannot read config\.json/);
  });

  it('inspect and generate work on a model folder (the tiny model written by the test)', async () => {
    const dir = await tinyModel();
    const r = await runCli(['inspect', dir]);
    expect(r.stdout).toContain('architecture: llama, 5 layers, hidden 64');
    expect(r.stdout).toContain('parameters: 260,032'); // stories260K's shape
    expect(r.stdout).toContain('problems: none');
    // prettier-ignore
    const args = ['generate', '--base_model', dir, '--prompt_template', 'none', '--instruction', '', '--temperature', '0',
      '--max_new_tokens', '30', '--backend', 'wasm', '--threads', '2'];
    // Our GEMM kernels on 2 threads (tfjs keeps one), and the threaded tfjs build (its worker pool, which the rest of
    // the suite leaves out: vitest.config.ts) on the tfjs path: the same greedy answer.
    const [g, t] = await Promise.all([runCli(args), runCli(args, { env: { LORA_STUDIO_CPU_MATMUL: 'tfjs' } })]);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout.trim().length).toBeGreaterThan(0);
    expect(g.stderr).toMatch(/backend: wasm — tfjs-backend-wasm \(simd, 1 thread\) \+ GEMM kernels \(2 threads\)/);
    // the native kernels where the install built them, else our wasm kernels (the child decides as this process does)
    expect(g.stderr).toContain(`frozen-weight matmuls: ${cpuMatmulPath().kernel} kernel`);
    expect(cpuMatmulPath().kernel).toMatch(/^(native-openblas|wasm-relaxed-simd|wasm-simd128)$/);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toMatch(/backend: wasm — tfjs-backend-wasm \(simd, 2 threads\)/);
    expect(t.stdout).toBe(g.stdout);
  });

  // The command prints, token for token, the greedy answer the engine gives for the same template, instruction and
  // model; that the engine's greedy answer on stories260K's trained weights is the story llama2.c tells is proven in
  // test/model/stories260k.test.ts (together they are what a CLI story check on the real model would prove).
  it('generate prints the greedy answer the engine gives for the same prompt (the tiny model)', async () => {
    const dir = await tinyModel();
    const instruction = 'Repeat the word river twice.';
    const g = await runCli([
      'generate',
      '--base_model',
      dir,
      '--prompt_template',
      'alpaca_short',
      '--instruction',
      instruction,
      '--temperature',
      '0',
      '--max_new_tokens',
      '24',
      '--backend',
      'wasm',
      '--threads',
      '1',
    ]);
    expect(g.code, g.stderr).toBe(0);
    await initBackend('wasm');
    const { model, tokenizer } = await loadModel(dir);
    const prompt = await encodePrompt(tokenizer, 'alpaca_short', instruction);
    const { tokens, stoppedBy } = await generate(model, prompt, { maxNewTokens: 24, stopTokenIds: tokenizer.eosIds });
    expect(tokens.length).toBeGreaterThan(0);
    expect(g.stdout).toBe(`${tokenizer.decode(tokens)}\n`);
    expect(g.stderr).toContain(`${tokens.length} tokens (${stoppedBy}); prompt ${prompt.length} tokens`);
  });

  const gpuNode = hasGpuDeviceNode();
  it.skipIf(gpuNode || process.platform !== 'linux')(
    'auto on a Linux machine without a GPU says why it skipped each faster backend, without Vulkan noise',
    async () => {
      const g = await runCli([
        'generate',
        '--base_model',
        await tinyModel(),
        '--prompt_template',
        'none',
        '--instruction',
        '',
        '--temperature',
        '0',
        '--max_new_tokens',
        '3',
      ]);
      expect(g.code, g.stderr).toBe(0);
      expect(g.stderr).toContain('webgpu: no hardware adapter (no GPU device in /dev');
      expect(g.stderr).toMatch(/backend: wasm — .*\[skipped gpu: .*; webgpu: .*; node: .*\]/);
      expect(g.stderr).not.toMatch(/Vulkan|XDG_RUNTIME_DIR/);
    },
  );

  it('serve prints a tokened address, answers the API with the token and refuses it without', async () => {
    const runs = workFolder('serve-runs');
    const serve = startCli(['serve', '--runs_dir', runs]);
    try {
      const address = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/;
      expect(await serve.waitFor(address), serve.output()).toBe(true);
      const url = new URL(address.exec(serve.output())![1]);
      const token = url.searchParams.get('token')!;
      const ok = await fetch(new URL('/api/app.info', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-studio-token': token },
        body: '{}',
      });
      expect(ok.status).toBe(200);
      const refused = await fetch(new URL('/api/app.info', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(refused.status).toBe(401);
    } finally {
      serve.child.kill('SIGTERM');
    }
  });

  it('the demo fine-tunes its own model and then answers its questions', async () => {
    const out = workFolder('demo');
    const r = await runCli(['demo', '--output_dir', out, '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    const after = r.stdout.slice(r.stdout.indexOf('5. Answers after'));
    const correct = ['Paris.', 'Tokyo.', 'Rome.', 'Cairo.'].filter((a) => after.includes(`"${a}"`));
    expect(correct.length).toBeGreaterThanOrEqual(3);
    const before = r.stdout.slice(r.stdout.indexOf('3. Answers of the base'), r.stdout.indexOf('4. Fine-tuning'));
    expect(before).not.toContain('"Paris."');
    // llama.cpp answers the demo's own questions from the Q8_0 GGUF, and the load check says what it proved.
    expect(r.stdout).toContain('llama.cpp check passed');
    expect(r.stdout).not.toMatch(/generated \d+ tokens/);
    const llamaAnswers = r.stdout.split('\n').filter((l) => l.includes('llama.cpp, Q8_0: What is the capital of'));
    expect(llamaAnswers).toHaveLength(2);
    expect(llamaAnswers.filter((l) => /"(Paris|Tokyo)\."/.test(l)).length).toBeGreaterThanOrEqual(1);
  }, 300_000); // ~50 s alone; a busy machine can double it
});
