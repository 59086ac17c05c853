import { Option, type Command } from 'commander';
import { readConfigFile } from '../engine/train/config-file.ts';
import { finetuneConfigSchema, parseFinetuneConfig } from '../engine/train/config.ts';
import { ProgressPrinter } from './progress.ts';
import { action, cleanUpOnSignals } from './common.ts';
import { addSchemaFlags } from './schema-flags.ts';

/** Flags Alpaca-LoRA's finetune.py takes that we accept and do not use. */
const WANDB_FLAGS = ['wandb_project', 'wandb_run_name', 'wandb_watch', 'wandb_log_model'];

/** `lora-studio finetune`: Alpaca-LoRA's flags (names and defaults) plus ours, all from the one config schema. */
export function registerFinetune(program: Command): void {
  const cmd = program
    .command('finetune')
    .description("Fine-tune a base model with LoRA on Alpaca-style data (Alpaca-LoRA's finetune.py flags)")
    .option('--config <file>', 'JSON file of settings (flags given on the command line override it)');
  addSchemaFlags(cmd, finetuneConfigSchema, { mandatory: false });
  for (const w of WANDB_FLAGS)
    cmd.addOption(new Option(`--${w} <value>`, 'accepted for compatibility; Weights & Biases is not supported').hideHelp());
  cmd.action(
    action(async (flags: Record<string, unknown>) => {
      cleanUpOnSignals();
      const { runFinetune } = await import('../engine/train/finetune.ts');
      for (const w of WANDB_FLAGS)
        if (flags[w] !== undefined)
          console.error(`note: --${w} is accepted but Weights & Biases logging is not supported; metrics go to metrics.jsonl`);
      const fromFile = typeof flags.config === 'string' ? await readConfigFile(flags.config) : {};
      const given = Object.fromEntries(
        Object.entries(flags).filter(([k, v]) => v !== undefined && k !== 'config' && !WANDB_FLAGS.includes(k)),
      );
      // A bare boolean flag (`--train_on_inputs`) arrives as true.
      const config = parseFinetuneConfig({ ...fromFile, ...given }, typeof flags.config === 'string' ? flags.config : 'command line');
      const progress = new ProgressPrinter();
      const result = await runFinetune(config, (e) => progress.onEvent(e));
      progress.finish();
      console.error(
        `done: ${result.steps} steps (${result.reason}); adapter: ${result.adapterDir}${result.finalEvalLoss !== undefined ? `; best validation loss ${result.finalEvalLoss.toFixed(4)}` : ''}`,
      );
    }),
  );
}
