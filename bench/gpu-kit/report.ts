import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One line of results.jsonl as run.sh writes it: which part, its settings, and the program's own JSON line. */
interface Part {
  part: string;
  label?: string;
  lora?: string;
  result: Record<string, unknown>;
}

const gib = (b: unknown) => (typeof b === 'number' ? `${(b / 2 ** 30).toFixed(2)} GiB` : '—');
const num = (v: unknown, digits = 0) => (typeof v === 'number' ? v.toFixed(digits) : '—');
const why = (r: Record<string, unknown>) => String(r.skipped ?? r.error ?? '');

/**
 * summary.md from OUT/results.jsonl: the adapter, the correctness checks, the training table (tokens/s, ratio to
 * PyTorch + PEFT bf16 and fp32 of the same LoRA configuration, peak GPU memory), the products' TFLOP/s, the notes.
 */
export function writeSummary(outDir: string): string {
  const parts = readFileSync(path.join(outDir, 'results.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Part);
  const lines: string[] = [`# GPU kit results, ${new Date().toISOString().slice(0, 16)} UTC`, ''];
  for (const p of parts.filter((x) => x.part === 'probe')) {
    const r = p.result;
    lines.push(`Adapter: ${r.found ? `${r.vendor} ${r.architecture} (${r.description})` : 'none found'}; subgroup matrix configs: ${JSON.stringify(r.subgroup_matrix_configs ?? null)}; device features: ${JSON.stringify(r.device_features ?? {})}`, '');
  }
  const checks = parts.filter((p) => p.part === 'check');
  if (checks.length) {
    lines.push('| correctness vs PyTorch | loss ours / torch | logits rel. diff | worst LoRA grad rel. diff | tolerance | pass |', '|---|---|---|---|---|---|');
    for (const { label, result: r } of checks) {
      lines.push(r.error ? `| ${label} | ${why(r)} | | | | no |` : `| ${label} | ${num(r.loss_ours, 6)} / ${num(r.loss_torch, 6)} | ${Number(r.logits_rel_diff).toExponential(1)} | ${Number(r.grads_rel_diff).toExponential(1)} (${r.worst_grad}) | ${r.tolerance} | ${r.pass ? 'yes' : 'NO'} |`);
    }
    lines.push('');
  }
  const train = parts.filter((p) => p.part === 'ours' || p.part === 'torch');
  if (train.length) {
    const torchOf = (lora: string | undefined, label: string) => parts.find((p) => p.part === 'torch' && p.lora === lora && p.label === label)?.result.tokens_per_second;
    lines.push('| LoRA | who | tokens/s | × torch bf16 | × torch fp32 (no TF32) | peak GPU memory | memory source |', '|---|---|---|---|---|---|---|');
    for (const { part, lora, label, result: r } of train) {
      const t = r.tokens_per_second;
      if (typeof t !== 'number') {
        lines.push(`| ${lora} | ${part} ${label} | ${why(r)} | | | | |`);
        continue;
      }
      const ratio = (ref: unknown) => (part === 'ours' && typeof ref === 'number' ? `${(t / ref).toFixed(2)}×` : '');
      lines.push(`| ${lora} | ${part} ${label} | ${t.toFixed(t < 100 ? 1 : 0)} | ${ratio(torchOf(lora, 'bf16'))} | ${ratio(torchOf(lora, 'fp32'))} | ${gib(r.peak_gpu_bytes)} | ${r.peak_gpu_source ?? ''} |`);
    }
    lines.push('');
  }
  const products = parts.filter((p) => p.part === 'matmul');
  if (products.length) {
    lines.push('| product | who | TFLOP/s |', '|---|---|---|');
    for (const { label, result: r } of products) {
      const values = Object.entries(r).filter(([k]) => k.endsWith('tflops'));
      if (!values.length) lines.push(`| ${r.shape ?? ''} | ${label} | ${why(r)} |`);
      for (const [k, v] of values) lines.push(`| ${Array.isArray(r.shape) ? r.shape.join('x') : r.shape} | ${label} ${k.replace(/_?tflops$/, '')} | ${num(v, Number(v) < 0.1 ? 5 : 2)} |`);
    }
    lines.push('');
  }
  const profiles = parts.filter((p) => p.part === 'profile');
  if (profiles.length) {
    lines.push('| dispatch profile (one step) | dispatches | TFLOP | GB moved | predicted | measured | costliest programs |', '|---|---|---|---|---|---|---|');
    for (const { label, result: r } of profiles) {
      const step = r.step as { dispatches: number; flops: number; bytes: number; seconds: number } | undefined;
      if (!step) {
        lines.push(`| ${label} | ${why(r)} | | | | | |`);
        continue;
      }
      const top = (r.top_programs as { program: string; seconds: number }[]).slice(0, 3).map((p) => `${p.program} ${(p.seconds * 1000).toFixed(1)} ms`).join(', ');
      const measured = typeof r.measured_step_seconds === 'number' ? `${(r.measured_step_seconds * 1000).toFixed(1)} ms` : '—';
      lines.push(`| ${label} | ${step.dispatches} | ${(step.flops / 1e12).toFixed(3)} | ${(step.bytes / 1e9).toFixed(2)} | ${(step.seconds * 1000).toFixed(1)} ms | ${measured} | ${top} |`);
    }
    lines.push('');
  }
  const tabled = new Set(['probe', 'check', 'ours', 'torch', 'matmul', 'profile', 'note']);
  for (const p of parts.filter((x) => !tabled.has(x.part) && x.result.error)) lines.push(`- ${p.part} ${p.label}: ${why(p.result)}`);
  for (const p of parts.filter((x) => x.part === 'note')) lines.push(`- ${String(p.result.text)}`);
  const text = lines.join('\n') + '\n';
  writeFileSync(path.join(outDir, 'summary.md'), text);
  return text;
}
