import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { withReadTimeout } from '../fs/regular-file.ts';
import path from 'node:path';
import { StudioError } from '../errors.ts';
import { openCheckpoint } from '../formats/hf-checkpoint.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { loadLlamaConfig, type LlamaConfig } from '../llama/config.ts';
import type { ModelReport } from '../llama/model-report.ts';
import { checkTensorsAgainstConfig } from '../llama/tensors.ts';

/**
 * Reads config.json, the tensor headers and the tokenizer of a model folder: never the weights. The studio process runs
 * it, so every read is asynchronous with a time limit, and a special file (a FIFO) is reported by type, never read.
 */
export async function inspectModel(dir: string): Promise<ModelReport> {
  if (!existsSync(dir)) throw new StudioError('model folder does not exist', dir, 'model/missing');
  const report: ModelReport = { dir, files: (await withReadTimeout(readdir(dir), dir)).sort(), problems: [], warnings: [] };
  let config: LlamaConfig | undefined;
  try {
    config = await loadLlamaConfig(dir);
    report.architecture = {
      modelType: config.modelType,
      layers: config.numLayers,
      hiddenSize: config.hiddenSize,
      intermediateSize: config.intermediateSize,
      heads: config.numHeads,
      kvHeads: config.numKvHeads,
      headDim: config.headDim,
      vocabSize: config.vocabSize,
      contextLength: config.maxPositions,
      ropeTheta: config.ropeTheta,
      ropeScaling: config.ropeScaling.kind === 'none' ? 'none' : `${config.ropeScaling.kind} ×${config.ropeScaling.factor}`,
      tiedEmbeddings: config.tieWordEmbeddings,
      attentionBiases: [...config.attentionBiases],
    };
  } catch (e) {
    report.problems.push((e as Error).message);
  }
  try {
    const source = await openCheckpoint(dir);
    report.warnings.push(...source.warnings);
    try {
      let parameters = 0;
      const dtypes: NonNullable<ModelReport['dtypes']> = {};
      for (const t of source.list()) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        parameters += n;
        const d = (dtypes[t.dtype] ??= { tensors: 0, bytes: 0 });
        d.tensors++;
        d.bytes += n * dtypeBytes(t.dtype);
      }
      report.parameters = parameters;
      report.dtypes = dtypes;
      if (config) report.problems.push(...checkTensorsAgainstConfig(source, config).map((p) => `${dir}: ${p}`));
    } finally {
      await source.close();
    }
  } catch (e) {
    report.problems.push((e as Error).message);
  }
  try {
    const tok = await loadTokenizer(dir);
    report.tokenizer = {
      vocabSize: tok.vocabSize,
      bos: tok.bosId === undefined ? undefined : tok.idToToken(tok.bosId),
      eos: tok.eosIds.map((id) => tok.idToToken(id) ?? String(id)),
      chatTemplate: Boolean(tok.chatTemplate),
    };
    if (config && tok.vocabSize > config.vocabSize) {
      report.problems.push(
        `${path.join(dir, 'tokenizer.json')}: ${tok.vocabSize} tokens but config.json says vocab_size ${config.vocabSize}: ids from ${config.vocabSize} on have no row in the embedding`,
      );
    } else if (config && tok.vocabSize < config.vocabSize) {
      // Common and harmless (embeddings padded to a multiple of 64 or 128), but worth knowing: those rows are never used.
      report.warnings.push(
        `${path.join(dir, 'tokenizer.json')}: ${tok.vocabSize} tokens, fewer than the ${config.vocabSize} rows of the embedding (config.json vocab_size); rows ${tok.vocabSize}–${config.vocabSize - 1} belong to no token (padding, or a tokenizer that does not match this model)`,
      );
    }
  } catch (e) {
    report.problems.push((e as Error).message);
  }
  return report;
}

function dtypeBytes(dtype: string): number {
  return { F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, I16: 2, I8: 1, U8: 1, BOOL: 1 }[dtype] ?? 0;
}
