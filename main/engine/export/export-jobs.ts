import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
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
 * The three export commands (merge, export-state-dict, quantize) as one runner taking a spec per output: the CLI and
 * the studio's job worker both parse their settings here and get the same verification report, which is also written
 * beside the output. Field names are the CLI's flags.
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

/** What an exporter is handed by the runner. */
interface ExportContext<R> {
  input: ExportInput;
  onProgress?: ExportProgress;
  /**
   * The atomic output's options: the lock's command and the leftovers' note, and for a folder the verification
   * report written into it before it appears (a file output writes `report` beside itself: exportGgufWithModelfile).
   */
  atomic: AtomicOutputOptions<R>;
  report: (r: R) => Record<string, unknown>;
}

/** One export, as its settings decide it: where it reads and writes, how it writes, and what it reports. */
interface ExportPlan<R> {
  kind: ExportOutcome['kind'];
  baseModel: string;
  loraWeights?: string;
  output: string;
  /** The setting (CLI flag) that named the output. */
  flag: 'output_dir' | 'output';
  /** A folder, or a file with others beside it (the GGUF's Modelfile and report), all new. */
  files?: { beside: string[]; reportFile: string };
  write(c: ExportContext<R>): Promise<R>;
  /** The verification report's own fields (`kind` and the base's provenance are added). */
  details(r: R): Record<string, unknown>;
  /** The summary line's start (the base's provenance is added). */
  summary(r: R): string;
  /** Lines for the log, one a tensor (quantization errors). */
  lines?(r: R): string[];
}

/** A plan whose result type only its own functions know (the runner passes the result from one to the next). */
type AnyPlan = ExportPlan<unknown>;
const plan = <R>(p: ExportPlan<R>): AnyPlan => p as unknown as AnyPlan;

/** An export command: its settings schema and the plan they make. */
interface ExportSpec<S extends z.ZodType> {
  /** The CLI command, named by the output's lock. */
  command: 'merge' | 'export-state-dict' | 'quantize';
  schema: S;
  plan(settings: z.output<S>): AnyPlan;
}

/** An export folder's verification report. */
const FOLDER_REPORT = 'verification.json';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const errorLine = (name: string, width: number, max: number, mean: number) =>
  `${name.padEnd(width)} max |err| ${max.toExponential(2)}  mean |err| ${mean.toExponential(2)}`;

/** Run an export: check its output, open its input (merged with the adapter when given), write, verify and report. */
async function runExport<S extends z.ZodType>(spec: ExportSpec<S>, raw: unknown, hooks: ExportHooks): Promise<ExportOutcome> {
  const job = spec.plan(parseSettings(spec.schema, raw, `${spec.command} settings`));
  await checkExportOutput({
    output: job.output,
    flag: job.flag,
    kind: job.files ? 'file' : 'folder',
    baseModel: job.baseModel,
    loraWeights: job.loraWeights,
    beside: job.files?.beside,
  });
  const input = await openExportInput(job.baseModel, job.loraWeights);
  input.warnings.forEach((w) => hooks.log?.('warn', w));
  try {
    const report = (r: unknown) => ({ kind: job.kind, ...job.details(r), base: input.base });
    const onLeftover = (p: string) => hooks.log?.('warn', `removed ${p}: the unfinished output of an interrupted export to the same place`);
    // A folder's report goes into its temp folder, so it appears with the output or not at all.
    const finish = (dir: string, r: unknown) => writeFileSync(path.join(dir, FOLDER_REPORT), JSON.stringify(report(r), null, 2) + '\n');
    const atomic = { command: spec.command, onLeftover, ...(job.files ? {} : { finish }) };
    const r = await job.write({ input, onProgress: hooks.onProgress, atomic, report });
    for (const line of job.lines?.(r) ?? []) hooks.log?.('info', line);
    return {
      kind: job.kind,
      output: path.resolve(job.output),
      summary: `${job.summary(r)}, ${describeProvenance(input.base)}`,
      reportFile: job.files?.reportFile ?? path.join(job.output, FOLDER_REPORT),
      report: report(r),
    };
  } finally {
    await input.source.close();
  }
}

/** Merge an adapter into its base and write a sharded Hugging Face checkpoint. */
const MERGE: ExportSpec<typeof mergeSettingsSchema> = {
  command: 'merge',
  schema: mergeSettingsSchema,
  plan: (o) => {
    const maxShardSize = parseShardSize(o.max_shard_size);
    return plan<HfExportReport>({
      kind: 'hf-checkpoint',
      baseModel: o.base_model,
      loraWeights: o.lora_weights,
      output: o.output_dir,
      flag: 'output_dir',
      write: ({ input, onProgress, atomic }) =>
        exportHfCheckpoint({
          source: input.source,
          config: input.config,
          baseDir: o.base_model,
          outDir: o.output_dir,
          maxShardSize,
          dtype: o.dtype,
          onProgress,
          atomic,
        }),
      details: (r) => ({
        ...r,
        checks: ['every shard reopened by the spec-checking safetensors reader', 'index total_size equals the tensors written'],
        verified: { shardsReopened: r.shards.length, indexTotalSize: r.totalSize },
      }),
      summary: (r) => `merged ${r.tensors} tensors into ${r.shards.length} shard(s), ${mib(r.totalSize)} (${r.dtype})`,
    });
  },
};

/** Meta's original layout (params.json + consolidated.00.safetensors), adapter merged when given. */
const STATE_DICT: ExportSpec<typeof stateDictSettingsSchema> = {
  command: 'export-state-dict',
  schema: stateDictSettingsSchema,
  plan: (o) =>
    plan<StateDictResult>({
      kind: 'state-dict',
      baseModel: o.base_model,
      loraWeights: o.lora_weights,
      output: o.output_dir,
      flag: 'output_dir',
      write: ({ input, onProgress, atomic }) =>
        exportStateDict({ source: input.source, config: input.config, outDir: o.output_dir, dtype: o.dtype, onProgress, atomic }),
      details: (r) => ({ ...r, load: 'safetensors.torch.load_file("consolidated.00.safetensors")' }),
      summary: (r) => `wrote ${r.tensors} tensors in Meta's layout: ${path.join(path.resolve(o.output_dir), r.file)} (+ params.json)`,
    }),
};

/** GGUF (Q8_0/F16/F32, with an Ollama Modelfile, checked in llama.cpp) or bitsandbytes int8 safetensors. */
const QUANTIZE: ExportSpec<typeof quantizeSettingsSchema> = {
  command: 'quantize',
  schema: quantizeSettingsSchema,
  plan: (o) => {
    const baseModel = (o.model ?? o.base_model)!;
    const from = { baseModel, loraWeights: o.lora_weights, output: o.output, flag: 'output' as const };
    if (o.format === 'int8') {
      return plan<Int8Result>({
        kind: 'int8',
        ...from,
        write: ({ input, onProgress, atomic }) =>
          exportInt8({ source: input.source, config: input.config, baseDir: baseModel, outDir: o.output, onProgress, atomic }),
        details: (r) => ({
          errors: r.errors,
          checks: [`dequantized weights within ${r.worstStepFraction.toFixed(3)} of a step of the originals (bound 0.5)`],
          verified: { worstStepFraction: r.worstStepFraction, bound: 0.5 },
        }),
        summary: (r) =>
          `int8: ${r.errors.length} projections quantized, worst max |err| ${r.errors.reduce((m, e) => Math.max(m, e.maxAbs), 0).toExponential(2)}`,
        lines: (r) => r.errors.map((e) => errorLine(e.name, 48, e.maxAbs, e.meanAbs)),
      });
    }
    const fileType = o.format.slice('gguf-'.length) as 'q8_0' | 'f16' | 'f32';
    const reportFile = ggufReportFile(o.output);
    return plan<GgufExportResult>({
      kind: `gguf-${fileType}`,
      ...from,
      files: { beside: [modelfilePath(o.output), reportFile], reportFile },
      write: async ({ input, onProgress, atomic, report }) =>
        exportGgufWithModelfile({
          source: input.source,
          config: input.config,
          baseDir: baseModel,
          outFile: o.output,
          fileType,
          template: await loadTemplate(o.prompt_template),
          onProgress,
          report,
          atomic,
        }),
      details: (r) => ({
        file: o.output,
        bytes: r.report.bytes,
        tensors: r.report.tensors,
        modelfile: r.modelfile,
        verification: r.verification,
        verified: r.verified,
      }),
      summary: (r) =>
        `GGUF ${fileType}: ${mib(r.report.bytes)}, ${r.report.tensors.length} tensors; Modelfile: ${r.modelfile} (ollama create NAME -f ${r.modelfile})`,
      lines: (r) =>
        r.report.tensors
          .filter((t) => t.maxAbsError !== undefined)
          .map((t) => errorLine(`${t.name.padEnd(32)} ${t.type}`, 38, t.maxAbsError!, t.meanAbsError!)),
    });
  },
};

/** The export commands by their CLI names (also the studio's export job kinds). */
export const EXPORT_SPECS = { merge: MERGE, 'export-state-dict': STATE_DICT, quantize: QUANTIZE };
export type ExportCommand = keyof typeof EXPORT_SPECS;

export const runMerge = (raw: MergeSettings, hooks: ExportHooks = {}) => runExport(MERGE, raw, hooks);
export const runStateDict = (raw: StateDictSettings, hooks: ExportHooks = {}) => runExport(STATE_DICT, raw, hooks);
export const runQuantize = (raw: QuantizeSettings, hooks: ExportHooks = {}) => runExport(QUANTIZE, raw, hooks);

/** Any export command on settings not yet checked (the job worker's): the command's schema checks them. */
export function runExportCommand(command: ExportCommand, raw: unknown, hooks: ExportHooks = {}): Promise<ExportOutcome> {
  return runExport(EXPORT_SPECS[command] as ExportSpec<z.ZodType>, raw, hooks);
}
