import path from 'node:path';
import type { Command } from 'commander';
import type { z } from 'zod';
import { runExportCommand, type ExportCommand, type ExportHooks, type ExportOutcome } from '../engine/export/export-jobs.ts';
import { mergeSettingsSchema, quantizeSettingsSchema, stateDictSettingsSchema } from '../engine/export/export-settings.ts';
import { action, cleanUpOnSignals } from './common.ts';
import { addSchemaFlags, settingsFromFlags, type SchemaFlagOptions, type SchemaKeys } from './schema-flags.ts';
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
  return {
    onProgress: progress(),
    log: (level, message) => (level === 'warn' ? console.error(`warning: ${message}`) : console.log(message)),
  };
}

function printOutcome(r: ExportOutcome, started: number): void {
  console.log(`${r.summary} in ${formatMs(performance.now() - started)}: ${r.output}`);
  const verification = r.report.verification as Record<string, string> | undefined;
  for (const [k, v] of Object.entries(verification ?? {})) console.log(`check ${k}: ${v}`);
  console.log(`verification report: ${path.resolve(r.reportFile)}`);
}

const FOLDER = 'dir';
const MERGE: SchemaFlagOptions<keyof typeof mergeSettingsSchema.shape> = {
  help: {
    base_model: 'base model folder',
    lora_weights: 'PEFT adapter folder (or a run folder)',
    output_dir: 'new folder for the merged checkpoint',
    max_shard_size: 'largest shard, e.g. 400MB, 2GB, 5GiB',
    dtype: 'dtype of the written weights',
  },
  placeholder: { base_model: FOLDER, lora_weights: FOLDER, output_dir: FOLDER, max_shard_size: 'size', dtype: 'dtype' },
};
const STATE_DICT: SchemaFlagOptions<keyof typeof stateDictSettingsSchema.shape> = {
  help: {
    base_model: 'base model folder',
    lora_weights: 'PEFT adapter folder to merge first',
    output_dir: 'new folder for the state dict',
    dtype: 'dtype of the written weights',
  },
  placeholder: { base_model: FOLDER, lora_weights: FOLDER, output_dir: FOLDER, dtype: 'dtype' },
};
const QUANTIZE: SchemaFlagOptions<keyof typeof quantizeSettingsSchema.shape> = {
  help: {
    model: 'a model folder (already merged)',
    base_model: 'base model folder (with --lora_weights)',
    lora_weights: 'PEFT adapter to merge first',
    format: 'output format',
    output: 'the .gguf file, or the folder for int8',
    prompt_template: 'template for the Ollama Modelfile',
  },
  placeholder: { model: FOLDER, base_model: FOLDER, lora_weights: FOLDER, format: 'format', output: 'path', prompt_template: 'name' },
};

/** One export command: its flags from the settings schema the studio's export jobs use, run by the one export runner. */
function registerOne<S extends z.ZodType>(
  program: Command,
  command: ExportCommand,
  description: string,
  schema: S,
  flags: SchemaFlagOptions<SchemaKeys<S>>,
): void {
  addSchemaFlags(program.command(command).description(description), schema, flags).action(
    action(async (o) => {
      cleanUpOnSignals();
      const started = performance.now();
      printOutcome(await runExportCommand(command, settingsFromFlags(schema, o, flags), cliHooks()), started);
    }),
  );
}

/** merge, export-state-dict and quantize. */
export function registerExport(program: Command): void {
  registerOne(
    program,
    'merge',
    'Merge a LoRA adapter into its base model and write a Hugging Face checkpoint (sharded safetensors)',
    mergeSettingsSchema,
    MERGE,
  );
  registerOne(
    program,
    'export-state-dict',
    "Write Meta's original LLaMA layout (params.json + consolidated.00.safetensors), adapter merged if given",
    stateDictSettingsSchema,
    STATE_DICT,
  );
  registerOne(
    program,
    'quantize',
    'Write an 8-bit (or F16/F32) model: GGUF for llama.cpp/Ollama (with a Modelfile) or bitsandbytes int8 safetensors',
    quantizeSettingsSchema,
    QUANTIZE,
  );
}
