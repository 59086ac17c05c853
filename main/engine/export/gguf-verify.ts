import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { StudioError } from '../errors.ts';
import { refuseNonFiniteErrors } from './encoded-finite.ts';
import type { PromptTemplate } from '../data/templates.ts';
import { exportLlamaGguf, type GgufExportReport, type GgufFileType } from './gguf-llama.ts';
import { readGguf } from '../formats/gguf-reader.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from '../llama/config.ts';
import type { ExportProgress } from './hf-export.ts';
import { withAtomicFiles, type AtomicOutputOptions } from '../fs/atomic-dir.ts';

/** Where the Modelfile of a GGUF goes: beside it. */
export function modelfilePath(ggufFile: string): string {
  return path.join(path.dirname(ggufFile), 'Modelfile');
}

/** An Ollama Modelfile beside the GGUF: FROM, the prompt template as TEMPLATE, and stop words. */
export function ollamaModelfile(ggufFile: string, template: PromptTemplate, eosToken = '</s>'): string {
  const body = template.prompt_no_input.replace('{instruction}', '{{ .Prompt }}');
  const stops = ['### Instruction:', template.response_split.replace('Response', 'Instruction'), eosToken];
  return [
    `FROM ./${path.basename(ggufFile)}`,
    `TEMPLATE """${body}"""`,
    ...[...new Set(stops)].map((s) => `PARAMETER stop ${JSON.stringify(s)}`),
    '',
  ].join('\n');
}

/** Each check's outcome in words (the CLI prints them; the report keeps them). */
export interface GgufVerification {
  huggingfaceGguf: string;
  strictReader: string;
  llamaCpp: string;
}

/** The same checks as facts, for a page to say in its own language. */
export interface GgufVerified {
  huggingfaceGguf: { tensors: number };
  strictReader: { version: number; tensors: number; alignment: number };
  llamaCpp: { generated: number; text: string } | { skipped: 'not-installed' };
}

export function describeGgufChecks(v: GgufVerified): GgufVerification {
  const l = v.llamaCpp;
  return {
    huggingfaceGguf: `parsed: ${v.huggingfaceGguf.tensors} tensors`,
    strictReader: `parsed: GGUF v${v.strictReader.version}, ${v.strictReader.tensors} tensors aligned to ${v.strictReader.alignment}`,
    llamaCpp:
      'skipped' in l
        ? 'skipped: node-llama-cpp is not installed'
        : `loaded in llama.cpp and generated ${l.generated} tokens: ${JSON.stringify(l.text)}`,
  };
}

/**
 * Check a written GGUF with two readers we did not write the logic of (@huggingface/gguf) or did (our strict
 * reader), then load it in llama.cpp and generate a few tokens. A check that cannot run says why.
 */
export async function verifyGguf(file: string, expectedTensors: number): Promise<GgufVerified> {
  const { tensorInfos } = await gguf(file, { allowLocalFile: true });
  if (tensorInfos.length !== expectedTensors)
    throw new Error(`${file}: @huggingface/gguf sees ${tensorInfos.length} tensors, ${expectedTensors} written`);
  const mine = await readGguf(file);
  let llamaCpp: GgufVerified['llamaCpp'];
  try {
    const { loadLlamaCpp } = await import('../system/llama-cpp.ts');
    const model = await loadLlamaCpp(file, { contextSize: 64 });
    try {
      const bos = Number(mine.metadata.get('tokenizer.ggml.bos_token_id') ?? 1);
      const tokens = await model.greedy([bos], 8);
      // An empty answer, or a next-token distribution that is not one (NaN weights give NaN logits), fails the check.
      if (tokens.length === 0)
        throw new StudioError(
          'llama.cpp loaded it but generated nothing (an empty answer); the export is refused',
          file,
          'export/llama-cpp',
        );
      const [next] = await model.nextTokenProbabilities([bos]);
      let total = 0;
      for (const p of next.values()) total += p;
      if (!(Math.abs(total - 1) < 1e-3))
        throw new StudioError(
          `llama.cpp's next-token probabilities after BOS sum to ${total}, not 1 (non-finite logits); the export is refused`,
          file,
          'export/llama-cpp',
        );
      llamaCpp = { generated: tokens.length, text: model.detokenize(tokens) };
    } finally {
      await model.dispose();
    }
  } catch (e) {
    if (e instanceof StudioError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') llamaCpp = { skipped: 'not-installed' };
    else throw new StudioError(`llama.cpp could not load or run it: ${(e as Error).message}`, file, 'export/llama-cpp');
  }
  return {
    huggingfaceGguf: { tensors: tensorInfos.length },
    strictReader: { version: mine.version, tensors: mine.tensors.length, alignment: mine.alignment },
    llamaCpp,
  };
}

/** A GGUF's verification report, beside it. */
export const ggufReportFile = (gguf: string) => `${gguf}.verification.json`;

export interface GgufExportResult {
  report: GgufExportReport;
  modelfile: string;
  verification: GgufVerification;
  verified: GgufVerified;
}

/**
 * GGUF export of a (possibly merged) model with a Modelfile and the verification above, written as one atomic output
 * (withAtomicFiles): the GGUF, its Modelfile and (with `report`) its verification report are written and checked in a
 * hidden temp folder and put in place only when the check has passed. An interrupted check leaves no final file.
 */
export async function exportGgufWithModelfile(opts: {
  source: TensorSource;
  config: LlamaConfig;
  baseDir: string;
  outFile: string;
  fileType: GgufFileType;
  template: PromptTemplate;
  onProgress?: ExportProgress;
  /** The verification report written beside the GGUF (ggufReportFile), made from the result. */
  report?: (r: GgufExportResult) => Record<string, unknown>;
  /** The lock's command and the leftovers' listener. */
  atomic?: Omit<AtomicOutputOptions<GgufExportResult>, 'finish'>;
}): Promise<GgufExportResult> {
  const modelfile = modelfilePath(opts.outFile);
  const reportFile = ggufReportFile(opts.outFile);
  const targets = [opts.outFile, ...(opts.report ? [reportFile] : []), modelfile];
  const finish = (dir: string, r: GgufExportResult) => {
    if (opts.report) writeFileSync(path.join(dir, path.basename(reportFile)), JSON.stringify(opts.report(r), null, 2) + '\n');
  };
  return withAtomicFiles(targets, { command: 'quantize', ...opts.atomic, finish }, async (dir) => {
    const file = path.join(dir, path.basename(opts.outFile));
    const report = await exportLlamaGguf(opts.source, opts.config, opts.baseDir, file, {
      fileType: opts.fileType,
      name: path.basename(opts.outFile, '.gguf'),
      onProgress: opts.onProgress,
    });
    refuseNonFiniteErrors(
      report.tensors.map((t) => ({ name: t.name, max: t.maxAbsError, mean: t.meanAbsError })),
      opts.outFile,
    );
    writeFileSync(path.join(dir, path.basename(modelfile)), ollamaModelfile(opts.outFile, opts.template));
    const verified = await verifyGguf(file, report.tensors.length);
    return { report, modelfile, verification: describeGgufChecks(verified), verified };
  });
}
