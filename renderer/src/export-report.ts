import type { JobResult } from '../../main/contract/contract.ts';

/**
 * An export's verification report (engine/export/export-jobs.ts) read for the page: a summary and its checks as
 * sentences in the page's language, built from the report's facts rather than from the engine's English lines.
 */
type Report = Record<string, unknown>;
type Translate = (key: string, options?: Record<string, unknown>) => string;
export type ExportResult = JobResult<'merge'>;

const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Report) : undefined);
const mib = (bytes: number | undefined) => (bytes === undefined ? '?' : (bytes / 2 ** 20).toFixed(1));

/** What the export was made from: the base alone, or base + adapter merged (and the base the adapter trained on). */
function provenance(report: Report, t: Translate): string {
  const base = obj(report.base);
  if (!base) return '';
  const dtype = str(base.checkpoint_dtype) ?? '?';
  if (!base.adapter) return t('exportResult.fromBase', { dtype });
  const trained = str(base.trained_against);
  return t('exportResult.merged', { dtype }) + (trained ? t('exportResult.trainedAgainst', { dtype: trained }) : '');
}

/** The base model folder the export read (the page shows it as a path of its own). */
export function exportBaseModel(result: ExportResult): string | undefined {
  return str(obj(result.report.base)?.base_model);
}

/** One sentence: what was written, how big, from what. */
export function exportSummary(result: ExportResult, t: Translate): string {
  const r = result.report;
  const from = provenance(r, t);
  if (result.kind === 'hf-checkpoint') {
    const shards = Array.isArray(r.shards) ? r.shards.length : 0;
    return t('exportResult.summary.hf', { tensors: num(r.tensors), shards, size: mib(num(r.totalSize)), dtype: str(r.dtype), from });
  }
  if (result.kind === 'state-dict') return t('exportResult.summary.stateDict', { tensors: num(r.tensors), file: str(r.file), from });
  if (result.kind === 'int8') {
    const errors = Array.isArray(r.errors) ? (r.errors as Report[]) : [];
    const worst = Math.max(0, ...errors.map((e) => num(e.maxAbs) ?? 0));
    return t('exportResult.summary.int8', { projections: errors.length, worst: worst.toExponential(2), from });
  }
  const tensors = Array.isArray(r.tensors) ? r.tensors.length : 0;
  return t('exportResult.summary.gguf', { type: result.kind.slice('gguf-'.length).toUpperCase(), size: mib(num(r.bytes)), tensors, from });
}

/** The checks the export passed, each a human name and what it found. */
export function exportChecks(result: ExportResult, t: Translate): { name: string; found: string; sample?: string }[] {
  const v = obj(result.report.verified);
  if (!v) {
    // A report from before the checks were facts: its own lines, under human names where they are known.
    const lines = obj(result.report.verification);
    if (lines)
      return Object.entries(lines).map(([k, found]) => ({ name: t(`exportResult.check.${k}`, { defaultValue: k }), found: String(found) }));
    const checks = Array.isArray(result.report.checks) ? result.report.checks.map(String) : [];
    return checks.map((found) => ({ name: t('exportResult.check.other'), found }));
  }
  if (result.kind.startsWith('gguf-')) {
    const hf = obj(v.huggingfaceGguf);
    const strict = obj(v.strictReader);
    const llama = obj(v.llamaCpp);
    return [
      { name: t('exportResult.check.huggingfaceGguf'), found: t('exportResult.found.parsedTensors', { tensors: num(hf?.tensors) }) },
      {
        name: t('exportResult.check.strictReader'),
        found: t('exportResult.found.strict', {
          version: num(strict?.version),
          tensors: num(strict?.tensors),
          alignment: num(strict?.alignment),
        }),
      },
      {
        name: t('exportResult.check.llamaCpp'),
        found:
          llama && 'skipped' in llama
            ? t('exportResult.found.llamaSkipped')
            : t('exportResult.found.llamaGenerated', { count: num(llama?.generated) }),
        // The model's own words, shown as they are.
        sample: llama && !('skipped' in llama) ? JSON.stringify(str(llama.text) ?? '') : undefined,
      },
    ];
  }
  if (result.kind === 'hf-checkpoint') {
    return [
      { name: t('exportResult.check.shards'), found: t('exportResult.found.shardsReopened', { count: num(v.shardsReopened) }) },
      { name: t('exportResult.check.index'), found: t('exportResult.found.indexTotal', { size: mib(num(v.indexTotalSize)) }) },
    ];
  }
  if (result.kind === 'int8') {
    return [
      {
        name: t('exportResult.check.int8'),
        found: t('exportResult.found.int8Within', { fraction: (num(v.worstStepFraction) ?? 0).toFixed(3), bound: num(v.bound) }),
      },
    ];
  }
  return [];
}

/** The files an export wrote that a person takes away: a GGUF with its Modelfile, or a folder's files (listed by the page). */
export function exportFiles(result: ExportResult): { files: string[]; folder?: string } {
  if (result.kind.startsWith('gguf-'))
    return { files: [result.output, str(result.report.modelfile)].filter((f): f is string => Boolean(f)) };
  return { files: [], folder: result.output };
}

/** `ollama create <name> -f <Modelfile>` for a GGUF export, with a model name Ollama accepts. */
export function ollamaCommand(result: ExportResult, runId: string | undefined, path: (p: string) => string): string | undefined {
  const modelfile = str(result.report.modelfile);
  if (!modelfile || !result.kind.startsWith('gguf-')) return undefined;
  const name = `${runId ?? 'lora'}-${result.kind.slice('gguf-'.length)}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
  return `ollama create ${name} -f ${shellWord(path(modelfile))}`;
}

/** A path as one shell word; `~/` stays outside the quotes so the shell still expands it. */
export function shellWord(p: string): string {
  if (/^[\w@%+=:,./~-]+$/.test(p)) return p;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return p.startsWith('~/') ? `~/${quote(p.slice(2))}` : quote(p);
}
