import { Option, type Command } from 'commander';
import { StudioError } from '../engine/errors.ts';
import { parseFinetuneConfig, readConfigFile, settingFields } from '../engine/train/config.ts';
import { ProgressPrinter } from './progress.ts';
import { action } from './common.ts';

/** Flags Alpaca-LoRA's finetune.py takes that we accept and do not use. */
const WANDB_FLAGS = ['wandb_project', 'wandb_run_name', 'wandb_watch', 'wandb_log_model'];

/** `lora-studio finetune`: Alpaca-LoRA's flags (names and defaults) plus ours, all from the one config schema. */
export function registerFinetune(program: Command): void {
  const cmd = program
    .command('finetune')
    .description("Fine-tune a base model with LoRA on Alpaca-style data (Alpaca-LoRA's finetune.py flags)")
    .option('--config <file>', 'JSON file of settings (flags given on the command line override it)');
  for (const f of settingFields()) {
    const value = f.type === 'boolean' ? '[bool]' : '<value>';
    const choices = f.choices ? ` (choices: ${f.choices.join(', ')})` : '';
    const help = `${f.help}${choices}${f.default !== undefined ? ` (default: ${JSON.stringify(f.default)})` : ''}`;
    cmd.addOption(new Option(`--${f.name} ${value}`, help).argParser((v: string) => parseFlag(f.name, f.type, v)));
  }
  for (const w of WANDB_FLAGS) cmd.addOption(new Option(`--${w} <value>`, 'accepted for compatibility; Weights & Biases is not supported').hideHelp());
  cmd.action(
    action(async (flags: Record<string, unknown>) => {
      const { runFinetune } = await import('../engine/train/finetune.ts');
      for (const w of WANDB_FLAGS) if (flags[w] !== undefined) console.error(`note: --${w} is accepted but Weights & Biases logging is not supported; metrics go to metrics.jsonl`);
      const fromFile = typeof flags.config === 'string' ? readConfigFile(flags.config) : {};
      const given = Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k !== 'config' && !WANDB_FLAGS.includes(k)));
      // A bare boolean flag (`--train_on_inputs`) arrives as true.
      const config = parseFinetuneConfig({ ...fromFile, ...given }, typeof flags.config === 'string' ? flags.config : 'command line');
      const progress = new ProgressPrinter();
      const result = await runFinetune(config, (e) => progress.onEvent(e));
      progress.finish();
      console.error(`done: ${result.steps} steps (${result.reason}); adapter: ${result.adapterDir}${result.finalEvalLoss !== undefined ? `; best validation loss ${result.finalEvalLoss.toFixed(4)}` : ''}`);
    }),
  );
}

/** Parse a flag value the way Python's fire would: True/False, numbers, [a,b] lists. */
function parseFlag(name: string, type: string, v: string | boolean): unknown {
  if (typeof v === 'boolean') return v;
  const text = v.trim();
  switch (type) {
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return true;
      if (/^(false|0|no)$/i.test(text)) return false;
      throw new StudioError(`--${name}: expected True or False, got "${v}"`);
    case 'integer':
    case 'number': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new StudioError(`--${name}: expected a number, got "${v}"`);
      return n;
    }
    case 'array':
      return text.replace(/^\[|\]$/g, '').split(',').map((s) => s.trim().replace(/^['"]|['"]$/g, '')).filter(Boolean);
    default:
      if (name === 'resume_from_checkpoint' && /^(true|false)$/i.test(text)) return /^true$/i.test(text);
      return text;
  }
}
