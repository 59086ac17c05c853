import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { loadTemplate } from '../engine/data/templates.ts';
import { StudioError } from '../engine/errors.ts';
import { exportGgufWithModelfile } from '../engine/export/gguf-export.ts';
import { exportHfCheckpoint, type ExportDtype } from '../engine/export/hf-export.ts';
import { exportInt8 } from '../engine/export/int8.ts';
import { openExportInput } from '../engine/export/open-model.ts';
import { parseShardSize } from '../engine/export/shard-size.ts';
import { exportStateDict } from '../engine/export/state-dict.ts';
import { action } from './common.ts';
import { formatMs } from './progress.ts';

const DTYPES = ['f32', 'f16', 'bf16'];
const FORMATS = ['gguf-q8_0', 'gguf-f16', 'gguf-f32', 'int8'];

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

function writeReport(dir: string, report: unknown): string {
  const file = path.join(dir, 'verification.json');
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export function registerExport(program: Command): void {
  program
    .command('merge')
    .description('Merge a LoRA adapter into its base model and write a Hugging Face checkpoint (sharded safetensors)')
    .requiredOption('--base_model <dir>', 'base model folder')
    .requiredOption('--lora_weights <dir>', 'PEFT adapter folder (or a run folder)')
    .requiredOption('--output_dir <dir>', 'new folder for the merged checkpoint')
    .option('--max_shard_size <size>', 'largest shard, e.g. 400MB, 2GB, 5GiB', '2GB')
    .addOption(new Option('--dtype <dtype>', 'dtype of the written weights').choices(DTYPES).default('f16'))
    .action(
      action(async (o) => {
        const input = await openExportInput(o.base_model, o.lora_weights);
        input.warnings.forEach((w) => console.error(`warning: ${w}`));
        const started = performance.now();
        const r = await exportHfCheckpoint({ source: input.source, config: input.config, baseDir: o.base_model, outDir: o.output_dir, maxShardSize: parseShardSize(o.max_shard_size), dtype: o.dtype as ExportDtype, onProgress: progress() });
        await input.source.close();
        const report = { kind: 'hf-checkpoint', ...r, checks: ['every shard reopened by the spec-checking safetensors reader', 'index total_size equals the tensors written'] };
        writeReport(o.output_dir, report);
        console.log(`merged ${r.tensors} tensors into ${r.shards.length} shard(s), ${(r.totalSize / 2 ** 20).toFixed(1)} MiB (${r.dtype}) in ${formatMs(performance.now() - started)}: ${path.resolve(o.output_dir)}`);
      }),
    );

  program
    .command('export-state-dict')
    .description("Write Meta's original LLaMA layout (params.json + consolidated.00.safetensors), adapter merged if given")
    .requiredOption('--base_model <dir>', 'base model folder')
    .option('--lora_weights <dir>', 'PEFT adapter folder to merge first')
    .requiredOption('--output_dir <dir>', 'new folder for the state dict')
    .addOption(new Option('--dtype <dtype>', 'dtype of the written weights').choices(DTYPES).default('f16'))
    .action(
      action(async (o) => {
        const input = await openExportInput(o.base_model, o.lora_weights);
        const r = await exportStateDict({ source: input.source, config: input.config, outDir: o.output_dir, dtype: o.dtype as ExportDtype, onProgress: progress() });
        await input.source.close();
        writeReport(o.output_dir, { kind: 'state-dict', ...r, load: 'safetensors.torch.load_file("consolidated.00.safetensors")' });
        console.log(`wrote ${r.tensors} tensors in Meta's layout: ${path.join(path.resolve(o.output_dir), r.file)} (+ params.json)`);
      }),
    );

  program
    .command('quantize')
    .description('Write an 8-bit (or F16/F32) model: GGUF for llama.cpp/Ollama (with a Modelfile) or bitsandbytes int8 safetensors')
    .option('--model <dir>', 'a model folder (already merged)')
    .option('--base_model <dir>', 'base model folder (with --lora_weights)')
    .option('--lora_weights <dir>', 'PEFT adapter to merge first')
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('gguf-q8_0'))
    .requiredOption('--output <path>', 'the .gguf file, or the folder for int8')
    .option('--prompt_template <name>', 'template for the Ollama Modelfile', 'alpaca')
    .action(
      action(async (o) => {
        const baseDir = o.model ?? o.base_model;
        if (!baseDir) throw new StudioError('quantize needs --model DIR, or --base_model DIR with --lora_weights DIR');
        if (o.model && o.lora_weights) throw new StudioError('--lora_weights goes with --base_model, not --model');
        const input = await openExportInput(baseDir, o.lora_weights);
        try {
          if (o.format === 'int8') {
            const r = await exportInt8({ source: input.source, config: input.config, baseDir, outDir: o.output, onProgress: progress() });
            for (const e of r.errors) console.log(`${e.name.padEnd(48)} max |err| ${e.maxAbs.toExponential(2)}  mean |err| ${e.meanAbs.toExponential(2)}`);
            const worst = r.errors.reduce((m, e) => Math.max(m, e.maxAbs), 0);
            writeReport(o.output, { kind: 'int8', errors: r.errors, checks: [`dequantized weights within ${r.worstStepFraction.toFixed(3)} of a step of the originals (bound 0.5)`] });
            console.log(`int8: ${r.errors.length} projections quantized, worst max |err| ${worst.toExponential(2)}: ${path.resolve(o.output)}`);
          } else {
            const fileType = o.format.slice('gguf-'.length);
            const r = await exportGgufWithModelfile({ source: input.source, config: input.config, baseDir, outFile: o.output, fileType, template: loadTemplate(o.prompt_template) });
            for (const t of r.report.tensors.filter((x) => x.maxAbsError !== undefined)) {
              console.log(`${t.name.padEnd(32)} ${t.type.padEnd(5)} max |err| ${t.maxAbsError!.toExponential(2)}  mean |err| ${t.meanAbsError!.toExponential(2)}`);
            }
            const report = { kind: `gguf-${fileType}`, file: o.output, bytes: r.report.bytes, tensors: r.report.tensors, modelfile: r.modelfile, verification: r.verification };
            writeFileSync(`${o.output}.verification.json`, JSON.stringify(report, null, 2));
            console.log(`GGUF ${fileType}: ${(r.report.bytes / 2 ** 20).toFixed(1)} MiB, ${r.report.tensors.length} tensors: ${path.resolve(o.output)}`);
            console.log(`Modelfile: ${r.modelfile} (ollama create NAME -f Modelfile)`);
            for (const [k, v] of Object.entries(r.verification)) console.log(`check ${k}: ${v}`);
          }
        } finally {
          await input.source.close();
        }
      }),
    );
}
