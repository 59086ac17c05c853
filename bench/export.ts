import { execFileSync } from 'node:child_process';
import { openSync, readSync, writeSync, fsyncSync, closeSync, rmSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { writeSyntheticAdapter } from '../main/engine/synthetic/synthetic-adapter.ts';
import { writeSyntheticModel } from '../main/engine/synthetic/synthetic-model.ts';
import { runCli } from '../test/helpers/cli-process.ts';

export interface ExportRow {
  job: string;
  outputBytes: number;
  seconds: number;
  throughputMBs: number;
  diskMBs: number;
  peakRssBytes: number;
  largestTensorBytes: number;
}

/** The disk's own sequential write speed for `bytes` (8 MiB writes, then fsync), measured in this run. */
export function diskWriteSpeed(dir: string, bytes: number): number {
  const file = path.join(dir, 'disk-speed.bin');
  const chunk = Buffer.alloc(8 << 20, 7);
  const start = performance.now();
  const fd = openSync(file, 'w');
  for (let done = 0; done < bytes; done += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - done));
  fsyncSync(fd);
  closeSync(fd);
  const seconds = (performance.now() - start) / 1000;
  rmSync(file);
  return bytes / 1e6 / seconds;
}

/**
 * The disk's sequential write speed past the page cache for `bytes`: `dd` with O_DIRECT (8 MiB writes, then fsync),
 * the way the exports write where the filesystem allows it (formats/sequential-writer.ts). undefined where dd or
 * O_DIRECT is missing.
 */
export function diskDirectWriteSpeed(dir: string, bytes: number): number | undefined {
  const file = path.join(dir, 'disk-direct.bin');
  const count = Math.max(1, Math.round(bytes / (8 << 20)));
  const start = performance.now();
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=8M', `count=${count}`, 'oflag=direct', 'conv=fsync'], { stdio: 'ignore' });
  } catch {
    return undefined;
  } finally {
    rmSync(file, { force: true });
  }
  return (count * (8 << 20)) / 1e6 / ((performance.now() - start) / 1000);
}

/**
 * The I/O an export cannot avoid, done plainly: read every `sources` file once (8 MiB reads) and write `bytes` bytes
 * (then fsync), in seconds. Against a write alone, a model whose source no longer fits the page cache beside its
 * output (a 7B: 13.5 GB read, 13 GB written, 24 GB of RAM) is bound by the disk's reads.
 */
export function diskCopySeconds(sources: string[], dir: string, bytes: number): number {
  const file = path.join(dir, 'disk-copy.bin');
  const chunk = Buffer.alloc(8 << 20);
  const start = performance.now();
  const out = openSync(file, 'w');
  let written = 0;
  for (const source of sources) {
    const fd = openSync(source, 'r');
    for (let got = readSync(fd, chunk); got > 0; got = readSync(fd, chunk)) {
      if (written < bytes) written += writeSync(out, chunk, 0, Math.min(got, bytes - written));
    }
    closeSync(fd);
  }
  for (; written < bytes; written += chunk.length) writeSync(out, chunk, 0, Math.min(chunk.length, bytes - written));
  fsyncSync(out);
  closeSync(out);
  const seconds = (performance.now() - start) / 1000;
  rmSync(file);
  return seconds;
}

/** An export through the CLI, timed, with its peak RSS; a failure ends the bench with its last output. */
async function timedCli(args: string[]): Promise<{ seconds: number; peak: number }> {
  const start = performance.now();
  const r = await runCli(args, { peakRss: true });
  if (r.code !== 0) throw new Error(`${args[0]} failed: ${r.stderr.slice(-1500)}`);
  return { seconds: (performance.now() - start) / 1000, peak: Number.isNaN(r.peakRss) ? 0 : r.peakRss };
}

function folderBytes(p: string): number {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, f) => n + folderBytes(path.join(p, f)), 0) : s.size;
}

/** Merge + HF export and Q8_0 export of a ~1 GB synthetic checkpoint with a LoRA adapter, against the disk. */
export async function benchExport(work: string, tokenizerDir: string): Promise<ExportRow[]> {
  const H = 1024;
  const F = 2752;
  const layers = 20;
  const base = path.join(work, 'export-base');
  await writeSyntheticModel(
    base,
    {
      hidden_size: H,
      intermediate_size: F,
      num_hidden_layers: layers,
      num_attention_heads: 16,
      num_key_value_heads: 16,
      vocab_size: 512,
      tie_word_embeddings: true,
    },
    { copyFrom: tokenizerDir },
  );
  const adapter = path.join(work, 'export-adapter');
  await writeSyntheticAdapter(adapter, base, { r: 16, targetModules: ['q_proj', 'v_proj'] });
  const largest = F * H * 4;
  const rows: ExportRow[] = [];

  const merged = path.join(work, 'export-merged');
  const m = await timedCli([
    'merge',
    '--base_model',
    base,
    '--lora_weights',
    adapter,
    '--output_dir',
    merged,
    '--dtype',
    'f32',
    '--max_shard_size',
    '400MB',
  ]);
  const mergedBytes = folderBytes(merged);
  rows.push({
    job: 'merge + HF export (f32, 400MB shards)',
    outputBytes: mergedBytes,
    seconds: m.seconds,
    throughputMBs: mergedBytes / 1e6 / m.seconds,
    diskMBs: diskWriteSpeed(work, mergedBytes),
    peakRssBytes: m.peak,
    largestTensorBytes: largest,
  });
  rmSync(merged, { recursive: true, force: true });

  const gguf = path.join(work, 'export-q8_0.gguf');
  const q = await timedCli(['quantize', '--base_model', base, '--lora_weights', adapter, '--format', 'gguf-q8_0', '--output', gguf]);
  const ggufBytes = statSync(gguf).size;
  rows.push({
    job: 'merge + GGUF Q8_0 (incl. llama.cpp load check)',
    outputBytes: ggufBytes,
    seconds: q.seconds,
    throughputMBs: ggufBytes / 1e6 / q.seconds,
    diskMBs: diskWriteSpeed(work, ggufBytes),
    peakRssBytes: q.peak,
    largestTensorBytes: largest,
  });
  return rows;
}
