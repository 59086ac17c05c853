import path from 'node:path';
import { Option, type Command } from 'commander';
import { runMerge, runQuantize, runStateDict, type ExportHooks, type ExportOutcome } from '../engine/export/export-jobs.ts';
import { EXPORT_DTYPES, QUANTIZE_FORMATS } from '../engine/export/export-settings.ts';
import { action } from './common.ts';
import { formatMs } from './progress.ts';

/** One progress line on stderr: `[####....] 12/47 model.layers.3.mlp.up_proj.weight`. */
function progress(started = performance.now()) {
  return (done: number, total: number, name: string) => {
    const width = 24;
    const filled = Math.round((width * done) / total);
    const eta = ((performance.now() - started) / done) * (total - done);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${name} ETA ${formatMs(eta)}`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line.padEnd(100)}${done === total ? '\n' : ''}`);
    else if (done === total || done % 10 === 0) console.error(line);
  };
}

/** The CLI's hooks: progress on stderr, warnings on stderr, per-tensor lines on stdout. */
function cliHooks(): ExportHooks {
  return { onProgress: progress(), log: (level, message) => (level === 'warn' ? console.error(`warning: ${message}`) : console.log(message)) };
}

function printOutcome(r: ExportOutcome, started: number): void {
  console.log(`${r.summary} in ${formatMs(performance.now() - started)}: ${r.output}`);
  const verification = r.report.verification as Record<string, string> | undefined;
  for (const [k, v] of Object.entries(verification ?? {})) console.log(`check ${k}: ${v}`);
  console.log(`verification report: ${path.resolve(r.reportFile)}`);
}

export function registerExport(program: Command): void {
  program
    .command('merge')
    .description('Merge a LoRA adapter into its base model and write a Hugging Face checkpoint (sharded safetensors)')
    .requiredOption('--base_model <dir>', 'base model folder')
    .requiredOption('--lora_weights <dir>', 'PEFT adapter folder (or a run folder)')
    .requiredOption('--output_dir <dir>', 'new folder for the merged checkpoint')
    .option('--max_shard_size <size>', 'largest shard, e.g. 400MB, 2GB, 5GiB', '2GB')
    .addOption(new Option('--dtype <dtype>', 'dtype of the written weights').choices(EXPORT_DTYPES).default('f16'))
    .action(
      action(async (o) => {
        const started = performance.now();
        printOutcome(await runMerge(o, cliHooks()), started);
      }),
    );

  program
    .command('export-state-dict')
    .description("Write Meta's original LLaMA layout (params.json + consolidated.00.safetensors), adapter merged if given")
    .requiredOption('--base_model <dir>', 'base model folder')
    .option('--lora_weights <dir>', 'PEFT adapter folder to merge first')
    .requiredOption('--output_dir <dir>', 'new folder for the state dict')
    .addOption(new Option('--dtype <dtype>', 'dtype of the written weights').choices(EXPORT_DTYPES).default('f16'))
    .action(
      action(async (o) => {
        const started = performance.now();
        printOutcome(await runStateDict(o, cliHooks()), started);
      }),
    );

  program
    .command('quantize')
    .description('Write an 8-bit (or F16/F32) model: GGUF for llama.cpp/Ollama (with a Modelfile) or bitsandbytes int8 safetensors')
    .option('--model <dir>', 'a model folder (already merged)')
    .option('--base_model <dir>', 'base model folder (with --lora_weights)')
    .option('--lora_weights <dir>', 'PEFT adapter to merge first')
    .addOption(new Option('--format <format>', 'output format').choices(QUANTIZE_FORMATS).default('gguf-q8_0'))
    .requiredOption('--output <path>', 'the .gguf file, or the folder for int8')
    .option('--prompt_template <name>', 'template for the Ollama Modelfile', 'alpaca')
    .action(
      action(async (o) => {
        const started = performance.now();
        printOutcome(await runQuantize(o, cliHooks()), started);
      }),
    );
}
