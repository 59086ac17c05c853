import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { BUILTIN_TEMPLATES, generatePrompt } from '../../main/engine/data/templates.ts';
import { DEMO_SHAPE, writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { demoRows } from '../../main/engine/synthetic/demo-data.ts';
import { parseFinetuneConfig, type FinetuneConfig, type FinetuneConfigInput } from '../../main/engine/train/config.ts';
import { workFolder } from './work-folder.ts';

/**
 * A fine-tuning setup the tests make themselves (no ../shared): the demo's small random LLaMA with a character
 * tokenizer, and its capitals data set. Returns a settings maker for short runs on wasm.
 */
export async function tinyRunSetup(): Promise<{
  work: string;
  baseModel: string;
  dataPath: string;
  settings: (extra: Partial<FinetuneConfigInput>) => FinetuneConfig;
}> {
  const work = workFolder('tiny-run');
  const rows = demoRows();
  const alphabet = rows.map((r) => `${generatePrompt(BUILTIN_TEMPLATES.alpaca, r.instruction, r.input)}${r.output}`).join('');
  const baseModel = path.join(work, 'base-model');
  await writeSyntheticModel(baseModel, DEMO_SHAPE, { alphabet });
  const dataPath = path.join(work, 'capitals.json');
  writeFileSync(dataPath, JSON.stringify(rows));
  const settings = (extra: Partial<FinetuneConfigInput>) =>
    parseFinetuneConfig({
      base_model: baseModel,
      data_path: dataPath,
      output_dir: path.join(work, 'run'),
      batch_size: 2,
      micro_batch_size: 2,
      cutoff_len: 64,
      val_set_size: 0,
      learning_rate: 1e-2,
      warmup_steps: 0,
      lora_r: 4,
      logging_steps: 1,
      eval_steps: 0,
      save_steps: 1,
      max_steps: 2,
      backend: 'wasm',
      threads: 1,
      ...extra,
    });
  return { work, baseModel, dataPath, settings };
}
