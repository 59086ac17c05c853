import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../engine/backend/index.ts';
import { StudioError } from '../engine/errors.ts';
import { BUILTIN_TEMPLATES, generatePrompt, loadTemplate } from '../engine/data/templates.ts';
import { DEMO_SHAPE, writeSyntheticModel } from '../engine/synthetic/synthetic-model.ts';
import { DEMO_FACTS, demoRows } from '../engine/synthetic/demo-data.ts';
import { exportGgufWithModelfile } from '../engine/export/gguf-verify.ts';
import { exportHfCheckpoint } from '../engine/export/hf-export.ts';
import { openExportInput } from '../engine/export/open-model.ts';
import { generate } from '../engine/generate/generate.ts';
import { loadModel } from '../engine/model/load.ts';
import { loadTokenizer } from '../engine/tokenizer/tokenizer.ts';
import { parseFinetuneConfig } from '../engine/train/config.ts';
import { runFinetune } from '../engine/train/finetune.ts';
import { ProgressPrinter } from './progress.ts';

const TEMPLATE = 'alpaca_short';

/** Marks a folder the demo made: it starts afresh each run, and only ever deletes a folder that has this file. */
const DEMO_MARKER = '.lora-studio-demo';

/**
 * An absent or empty folder, or the demo's own from an earlier run (emptied first), becomes the demo's folder; any
 * other folder is refused: `--output_dir ~/models` must never delete what the demo did not write.
 */
export function clearDemoFolder(runDir: string): void {
  if (existsSync(runDir)) {
    if (!statSync(runDir).isDirectory())
      throw new StudioError('is a file, not a folder; choose another --output_dir', runDir, 'demo/output');
    const entries = readdirSync(runDir);
    if (entries.length > 0 && !entries.includes(DEMO_MARKER))
      throw new StudioError(
        `holds ${entries.length} file(s) the demo did not write (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); ` +
          'the demo clears its folder before each run, so choose an empty or new --output_dir',
        runDir,
        'demo/output',
      );
    rmSync(runDir, { recursive: true, force: true });
  }
  mkdirSync(runDir, { recursive: true });
  writeFileSync(path.join(runDir, DEMO_MARKER), 'Written by `lora-studio demo`: the next demo run in this folder deletes it first.\n');
}

/** The demo: the whole recipe on files it makes itself (no network, no GPU), in about a minute. */
export async function runDemo(opts: { output_dir: string; steps: string; backend?: string; threads?: number }): Promise<void> {
  const runDir = path.resolve(opts.output_dir);
  clearDemoFolder(runDir);
  const baseDir = path.join(runDir, 'base-model');
  const dataFile = path.join(runDir, 'capitals.json');
  const rows = demoRows();
  const alphabet = rows.map((r) => `${generatePrompt(BUILTIN_TEMPLATES[TEMPLATE], r.instruction, r.input)}${r.output}`).join('');
  console.log(`1. Writing a small LLaMA base model with random weights and a character tokenizer: ${baseDir}`);
  await writeSyntheticModel(baseDir, DEMO_SHAPE, { alphabet });
  writeFileSync(dataFile, JSON.stringify(rows, null, 2));
  console.log(`2. Writing ${rows.length} instruction rows (capitals of ${DEMO_FACTS.length} countries): ${dataFile}`);
  await initBackend((opts.backend ?? 'auto') as never, { threads: opts.threads });

  const questions = DEMO_FACTS.slice(0, 4).map(([country]) => `What is the capital of ${country}?`);
  console.log('3. Answers of the base model before fine-tuning:');
  await answer(baseDir, undefined, questions);

  console.log('4. Fine-tuning with LoRA (r 16 on every projection, Alpaca-LoRA recipe, loss on the answers only):');
  const config = parseFinetuneConfig({
    base_model: baseDir,
    data_path: dataFile,
    output_dir: path.join(runDir, 'lora'),
    batch_size: 8,
    micro_batch_size: 8,
    num_epochs: 100,
    max_steps: Number(opts.steps),
    learning_rate: 1e-2,
    warmup_steps: 10,
    cutoff_len: 96,
    val_set_size: 0,
    lora_r: 16,
    lora_alpha: 32,
    lora_dropout: 0,
    lora_target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    train_on_inputs: false,
    add_eos_token: true,
    prompt_template_name: TEMPLATE,
    logging_steps: 10,
    save_steps: 50,
    eval_steps: 0,
    backend: opts.backend ?? 'auto',
    threads: opts.threads,
  });
  const progress = new ProgressPrinter();
  const result = await runFinetune(config, (e) => progress.onEvent(e));
  progress.finish();

  console.log('5. Answers after fine-tuning (base model + LoRA adapter):');
  await answer(baseDir, result.adapterDir, questions);
  const mergedDir = path.join(runDir, 'merged');
  console.log(`6. Merging the adapter into the base model (Hugging Face checkpoint, f32): ${mergedDir}`);
  const input = await openExportInput(baseDir, result.adapterDir);
  await exportHfCheckpoint({ source: input.source, config: input.config, baseDir, outDir: mergedDir, maxShardSize: 2e9, dtype: 'f32' });
  await input.source.close();
  console.log('   Answers of the merged model (no adapter needed any more):');
  await answer(mergedDir, undefined, questions);

  const ggufFile = path.join(runDir, 'gguf', 'demo-q8_0.gguf');
  console.log(`7. Exporting the merged model to GGUF Q8_0 for llama.cpp / Ollama: ${ggufFile}`);
  mkdirSync(path.dirname(ggufFile), { recursive: true });
  const mergedInput = await openExportInput(mergedDir);
  const gguf = await exportGgufWithModelfile({
    source: mergedInput.source,
    config: mergedInput.config,
    baseDir: mergedDir,
    outFile: ggufFile,
    fileType: 'q8_0',
    template: loadTemplate(TEMPLATE),
  });
  await mergedInput.source.close();
  const worst = gguf.report.tensors.reduce((m, t) => Math.max(m, t.maxAbsError ?? 0), 0);
  console.log(
    `   ${(gguf.report.bytes / 1024).toFixed(0)} KiB, worst quantization error ${worst.toExponential(2)}; Modelfile: ${gguf.modelfile}`,
  );
  // The export's own check generates a few tokens from BOS alone, which proves the file, not the answers: say that,
  // then ask llama.cpp the demo's questions.
  const check = gguf.verification.llamaCpp;
  console.log(
    check.startsWith('skipped')
      ? `   llama.cpp check ${check}`
      : '   llama.cpp check passed: llama.cpp read every tensor and ran the model (the file is laid out, named and quantized as it expects).',
  );
  await answerWithLlamaCpp(ggufFile, mergedDir, questions.slice(0, 2));

  console.log(
    `\nThe run folder ${result.runDir} holds config.json, metrics.jsonl (the loss curve), checkpoints/ and adapter/ (PEFT layout);`,
  );
  console.log(`${mergedDir} is the merged checkpoint and ${path.dirname(ggufFile)} the GGUF with its Ollama Modelfile.`);
  console.log(
    `Try: npx lora-studio generate --base_model ${baseDir} --lora_weights ${result.adapterDir} --prompt_template ${TEMPLATE} --temperature 0 --instruction "What is the capital of Peru?"`,
  );
}

async function answer(baseDir: string, adapterDir: string | undefined, questions: string[]): Promise<void> {
  const { model, tokenizer, adapter } = await loadModel(baseDir, { loraWeights: adapterDir });
  for (const q of questions) {
    const prompt = tokenizer.encode(generatePrompt(BUILTIN_TEMPLATES[TEMPLATE], q), { addBos: true });
    const { tokens } = await generate(model, prompt, {
      maxNewTokens: 16,
      stopTokenIds: tokenizer.eosIds,
      projection: adapter?.projection(),
    });
    console.log(`   ${q.padEnd(36)} → ${JSON.stringify(tokenizer.decode(tokens))}`);
  }
  adapter?.dispose();
}

/** The Q8_0 GGUF answering in llama.cpp itself (node-llama-cpp), when it is installed. */
async function answerWithLlamaCpp(ggufFile: string, modelDir: string, questions: string[]): Promise<void> {
  let llama: Awaited<ReturnType<typeof import('../engine/system/llama-cpp.ts').loadLlamaCpp>>;
  try {
    const { loadLlamaCpp } = await import('../engine/system/llama-cpp.ts');
    llama = await loadLlamaCpp(ggufFile, { contextSize: 256 });
  } catch (e) {
    console.log(`   (llama.cpp not available: ${(e as Error).message.split('\n')[0]})`);
    return;
  }
  const tokenizer = await loadTokenizer(modelDir);
  try {
    for (const q of questions) {
      const prompt = tokenizer.encode(generatePrompt(BUILTIN_TEMPLATES[TEMPLATE], q), { addBos: true });
      const tokens = await llama.greedy(prompt, 16);
      console.log(`   llama.cpp, Q8_0: ${q.padEnd(36)} → ${JSON.stringify(tokenizer.decode(tokens))}`);
    }
  } finally {
    await llama.dispose();
  }
}
