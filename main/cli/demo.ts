import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { initBackend } from '../engine/backend/index.ts';
import { generatePrompt, BUILTIN_TEMPLATES } from '../engine/data/templates.ts';
import { writeDemoBaseModel } from '../engine/demo/base-model.ts';
import { DEMO_FACTS, demoRows } from '../engine/demo/demo-data.ts';
import { generate } from '../engine/generate/generate.ts';
import { loadModel } from '../engine/model/load.ts';
import { parseFinetuneConfig } from '../engine/train/config.ts';
import { runFinetune } from '../engine/train/finetune.ts';
import { action, addBackendOptions } from './common.ts';
import { ProgressPrinter } from './progress.ts';

const TEMPLATE = 'alpaca_short';

/** `lora-studio demo`: the whole recipe on files it makes itself (no network, no GPU), in a few minutes. */
export function registerDemo(program: Command): void {
  const cmd = program
    .command('demo')
    .description('Make a small base model, fine-tune it with LoRA on a built-in instruction set, and compare answers before and after')
    .option('--output_dir <dir>', 'where the demo run goes', 'runs/demo')
    .option('--steps <n>', 'training steps', '150');
  addBackendOptions(cmd).action(
    action(async (opts: { output_dir: string; steps: string; backend?: string; threads?: number }) => {
      const runDir = path.resolve(opts.output_dir);
      rmSync(runDir, { recursive: true, force: true });
      const baseDir = path.join(runDir, 'base-model');
      const dataFile = path.join(runDir, 'capitals.json');
      const rows = demoRows();
      const alphabet = rows.map((r) => `${generatePrompt(BUILTIN_TEMPLATES[TEMPLATE], r.instruction, r.input)}${r.output}`).join('');
      console.log(`1. Writing a small LLaMA base model with random weights and a character tokenizer: ${baseDir}`);
      await writeDemoBaseModel(baseDir, alphabet);
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
      console.log(`\nThe run folder ${result.runDir} holds config.json, metrics.jsonl (the loss curve), checkpoints/ and adapter/ (PEFT layout).`);
      console.log(`Try: npx lora-studio generate --base_model ${baseDir} --lora_weights ${result.adapterDir} --prompt_template ${TEMPLATE} --temperature 0 --instruction "What is the capital of Peru?"`);
    }),
  );
}

async function answer(baseDir: string, adapterDir: string | undefined, questions: string[]): Promise<void> {
  const { model, tokenizer, adapter } = await loadModel(baseDir, { loraWeights: adapterDir });
  for (const q of questions) {
    const prompt = tokenizer.encode(generatePrompt(BUILTIN_TEMPLATES[TEMPLATE], q), { addBos: true });
    const { tokens } = await generate(model, prompt, { maxNewTokens: 16, stopTokenIds: tokenizer.eosIds, projection: adapter?.projection() });
    console.log(`   ${q.padEnd(36)} → ${JSON.stringify(tokenizer.decode(tokens))}`);
  }
  adapter?.dispose();
}
