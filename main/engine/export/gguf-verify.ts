import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { gguf } from '@huggingface/gguf';
import { StudioError } from '../errors.ts';
import type { PromptTemplate } from '../data/templates.ts';
import { exportLlamaGguf, type GgufExportReport, type GgufFileType } from './gguf-llama.ts';
import { readGguf } from '../formats/gguf-reader.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from '../llama/config.ts';
import type { ExportProgress } from './hf-export.ts';

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

export interface GgufVerification {
  huggingfaceGguf: string;
  strictReader: string;
  llamaCpp: string;
}

/**
 * Check a written GGUF with two readers we did not write the logic of (@huggingface/gguf) or did (our strict
 * reader), then load it in llama.cpp and generate a few tokens. A check that cannot run says why.
 */
export async function verifyGguf(file: string, expectedTensors: number): Promise<GgufVerification> {
  const { tensorInfos } = await gguf(file, { allowLocalFile: true });
  if (tensorInfos.length !== expectedTensors)
    throw new Error(`${file}: @huggingface/gguf sees ${tensorInfos.length} tensors, ${expectedTensors} written`);
  const mine = await readGguf(file);
  let llamaCpp: string;
  try {
    const { loadLlamaCpp } = await import('../system/llama-cpp.ts');
    const model = await loadLlamaCpp(file, { contextSize: 64 });
    try {
      const tokens = await model.greedy([Number(mine.metadata.get('tokenizer.ggml.bos_token_id') ?? 1)], 8);
      llamaCpp = `loaded in llama.cpp and generated ${tokens.length} tokens: ${JSON.stringify(model.detokenize(tokens))}`;
    } finally {
      await model.dispose();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') llamaCpp = 'skipped: node-llama-cpp is not installed';
    else throw new StudioError(`llama.cpp could not load or run it: ${(e as Error).message}`, file, 'export/llama-cpp');
  }
  return {
    huggingfaceGguf: `parsed: ${tensorInfos.length} tensors`,
    strictReader: `parsed: GGUF v${mine.version}, ${mine.tensors.length} tensors aligned to ${mine.alignment}`,
    llamaCpp,
  };
}

/** GGUF export of a (possibly merged) model with a Modelfile and the verification above. */
export async function exportGgufWithModelfile(opts: {
  source: TensorSource;
  config: LlamaConfig;
  baseDir: string;
  outFile: string;
  fileType: GgufFileType;
  template: PromptTemplate;
  onProgress?: ExportProgress;
}): Promise<{ report: GgufExportReport; modelfile: string; verification: GgufVerification }> {
  const report = await exportLlamaGguf(opts.source, opts.config, opts.baseDir, opts.outFile, {
    fileType: opts.fileType,
    name: path.basename(opts.outFile, '.gguf'),
    onProgress: opts.onProgress,
  });
  const modelfile = modelfilePath(opts.outFile);
  writeFileSync(modelfile, ollamaModelfile(opts.outFile, opts.template));
  const verification = await verifyGguf(opts.outFile, report.tensors.length);
  return { report, modelfile, verification };
}
