import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadTemplate } from '../data/templates.ts';
import { parseSettings } from '../parse-settings.ts';
import type { AtomicOutputOptions } from '../fs/atomic-dir.ts';
import { exportGgufWithModelfile, ggufReportFile, modelfilePath, type GgufExportResult } from './gguf-verify.ts';
import { exportHfCheckpoint, type ExportProgress, type HfExportReport } from './hf-export.ts';
import { exportInt8, type Int8Result } from './int8.ts';
import { describeProvenance, openExportInput, type ExportInput } from './open-model.ts';
import { checkExportOutput } from './output-guard.ts';
import { parseShardSize } from './shard-size.ts';
import { exportStateDict, type StateDictResult } from './state-dict.ts';
import {
  mergeSettingsSchema,
  quantizeSettingsSchema,
  stateDictSettingsSchema,
  type MergeSettings,
  type QuantizeSettings,
  type StateDictSettings,
} from './export-settings.ts';

/**
 * The three export commands as plain functions with one zod schema each: the CLI (merge, export-state-dict,
 * quantize) and the studio's job worker both parse their settings here and get the same verification report, which
 * is also written beside the output. Field names are the CLI's flags.
 */

export interface ExportHooks {
  onProgress?: ExportProgress;
  /** Warnings and per-tensor lines the CLI prints and the studio shows in the job's log. */
  log?: (level: 'info' | 'warn', message: string) => void;
}

/** What every export returns: where it went, a one-line summary and the verification report written beside it. */
export interface ExportOutcome {
  kind: 'hf-checkpoint' | 'state-dict' | 'int8' | `gguf-${string}`;
  output: string;
  summary: string;
  reportFile: string;
  report: Record<string, unknown>;
}

async function withInput<T>(
  baseDir: string,
  loraWeights: string | undefined,
  hooks: ExportHooks,
  use: (input: ExportInput) => Promise<T>,
): Promise<T> {
  const input = await openExportInput(baseDir, loraWeights);
  input.warnings.forEach((w) => hooks.log?.('warn', w));
  try {
    return await use(input);
  } finally {
    await input.source.close();
  }
}

/** An export folder's verification report. */
const FOLDER_REPORT = 'verification.json';

/**
 * The atomic folder's options of an export: the lock names `command`, and the verification report is written into
 * the temp folder, so it appears with the output or not at all.
 */
function folderOutput<R>(command: string, hooks: ExportHooks, report: (r: R) => Record<string, unknown>): AtomicOutputOptions<R> {
  return {
    command,
    finish: (dir, r) => writeFileSync(path.join(dir, FOLDER_REPORT), JSON.stringify(report(r), null, 2) + '\n'),
    onLeftover: leftoverNote(hooks),
  };
}

const leftoverNote = (hooks: ExportHooks) => (p: string) =>
  hooks.log?.('warn', `removed ${p}: the unfinished output of an interrupted export to the same place`);

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Merge an adapter into its base and write a sharded Hugging Face checkpoint. */
export async function runMerge(raw: MergeSettings, hooks: ExportHooks = {}): Promise<ExportOutcome> {
  const o = parseSettings(mergeSettingsSchema, raw, 'merge settings');
  const maxShardSize = parseShardSize(o.max_shard_size);
  await checkExportOutput({
    output: o.output_dir,
    flag: 'output_dir',
    kind: 'folder',
    baseModel: o.base_model,
    loraWeights: o.lora_weights,
  });
  return withInput(o.base_model, o.lora_weights, hooks, async (input) => {
    const makeReport = (r: HfExportReport) => ({
      kind: 'hf-checkpoint',
      ...r,
      base: input.base,
      checks: ['every shard reopened by the spec-checking safetensors reader', 'index total_size equals the tensors written'],
      verified: { shardsReopened: r.shards.length, indexTotalSize: r.totalSize },
    });
    const r = await exportHfCheckpoint({
      source: input.source,
      config: input.config,
      baseDir: o.base_model,
      outDir: o.output_dir,
      maxShardSize,
      dtype: o.dtype,
      onProgress: hooks.onProgress,
      atomic: folderOutput('merge', hooks, makeReport),
    });
    return {
      kind: 'hf-checkpoint',
      output: path.resolve(o.output_dir),
      summary: `merged ${r.tensors} tensors into ${r.shards.length} shard(s), ${mib(r.totalSize)} (${r.dtype}), ${describeProvenance(input.base)}`,
      reportFile: path.join(o.output_dir, FOLDER_REPORT),
      report: makeReport(r),
    };
  });
}

/** Meta's original layout (params.json + consolidated.00.safetensors), adapter merged when given. */
export async function runStateDict(raw: StateDictSettings, hooks: ExportHooks = {}): Promise<ExportOutcome> {
  const o = parseSettings(stateDictSettingsSchema, raw, 'state dict settings');
  await checkExportOutput({
    output: o.output_dir,
    flag: 'output_dir',
    kind: 'folder',
    baseModel: o.base_model,
    loraWeights: o.lora_weights,
  });
  return withInput(o.base_model, o.lora_weights, hooks, async (input) => {
    const makeReport = (r: StateDictResult) => ({
      kind: 'state-dict',
      ...r,
      base: input.base,
      load: 'safetensors.torch.load_file("consolidated.00.safetensors")',
    });
    const r = await exportStateDict({
      source: input.source,
      config: input.config,
      outDir: o.output_dir,
      dtype: o.dtype,
      onProgress: hooks.onProgress,
      atomic: folderOutput('export-state-dict', hooks, makeReport),
    });
    return {
      kind: 'state-dict',
      output: path.resolve(o.output_dir),
      summary: `wrote ${r.tensors} tensors in Meta's layout: ${path.join(path.resolve(o.output_dir), r.file)} (+ params.json), ${describeProvenance(input.base)}`,
      reportFile: path.join(o.output_dir, FOLDER_REPORT),
      report: makeReport(r),
    };
  });
}

/** GGUF (Q8_0/F16/F32, with an Ollama Modelfile, checked in llama.cpp) or bitsandbytes int8 safetensors. */
export async function runQuantize(raw: QuantizeSettings, hooks: ExportHooks = {}): Promise<ExportOutcome> {
  const o = parseSettings(quantizeSettingsSchema, raw, 'quantize settings');
  const baseDir = (o.model ?? o.base_model)!;
  const output = { output: o.output, flag: 'output', baseModel: baseDir, loraWeights: o.lora_weights };
  if (o.format === 'int8') await checkExportOutput({ ...output, kind: 'folder' });
  else await checkExportOutput({ ...output, kind: 'file', beside: [modelfilePath(o.output), ggufReportFile(o.output)] });
  return withInput(baseDir, o.lora_weights, hooks, async (input) => {
    if (o.format === 'int8') {
      const makeReport = (r: Int8Result) => ({
        kind: 'int8',
        base: input.base,
        errors: r.errors,
        checks: [`dequantized weights within ${r.worstStepFraction.toFixed(3)} of a step of the originals (bound 0.5)`],
        verified: { worstStepFraction: r.worstStepFraction, bound: 0.5 },
      });
      const r = await exportInt8({
        source: input.source,
        config: input.config,
        baseDir,
        outDir: o.output,
        onProgress: hooks.onProgress,
        atomic: folderOutput('quantize', hooks, makeReport),
      });
      for (const e of r.errors)
        hooks.log?.('info', `${e.name.padEnd(48)} max |err| ${e.maxAbs.toExponential(2)}  mean |err| ${e.meanAbs.toExponential(2)}`);
      const worst = r.errors.reduce((m, e) => Math.max(m, e.maxAbs), 0);
      return {
        kind: 'int8',
        output: path.resolve(o.output),
        summary: `int8: ${r.errors.length} projections quantized, worst max |err| ${worst.toExponential(2)}, ${describeProvenance(input.base)}`,
        reportFile: path.join(o.output, FOLDER_REPORT),
        report: makeReport(r),
      };
    }
    const fileType = o.format.slice('gguf-'.length) as 'q8_0' | 'f16' | 'f32';
    const makeReport = (r: GgufExportResult) => ({
      kind: `gguf-${fileType}`,
      base: input.base,
      file: o.output,
      bytes: r.report.bytes,
      tensors: r.report.tensors,
      modelfile: r.modelfile,
      verification: r.verification,
      verified: r.verified,
    });
    const r = await exportGgufWithModelfile({
      source: input.source,
      config: input.config,
      baseDir,
      outFile: o.output,
      fileType,
      template: await loadTemplate(o.prompt_template),
      onProgress: hooks.onProgress,
      report: makeReport,
      atomic: { command: 'quantize', onLeftover: leftoverNote(hooks) },
    });
    for (const t of r.report.tensors.filter((x) => x.maxAbsError !== undefined)) {
      hooks.log?.(
        'info',
        `${t.name.padEnd(32)} ${t.type.padEnd(5)} max |err| ${t.maxAbsError!.toExponential(2)}  mean |err| ${t.meanAbsError!.toExponential(2)}`,
      );
    }
    return {
      kind: `gguf-${fileType}`,
      output: path.resolve(o.output),
      summary: `GGUF ${fileType}: ${mib(r.report.bytes)}, ${r.report.tensors.length} tensors; Modelfile: ${r.modelfile} (ollama create NAME -f Modelfile), ${describeProvenance(input.base)}`,
      reportFile: ggufReportFile(o.output),
      report: makeReport(r),
    };
  });
}
