// `npm run bench -- scale [tinyllama] [llama7b] [f32 bf16 f16 int8 nf4] [train] [export] [hf q8_0 gguf-f16] [nocheck]
// [timeout=SECONDS] [threads=N] [repeats=N]`: real-size models on this machine. Writes shape-true synthetic bf16
// sharded checkpoints (TinyLlama-1.1B, LLaMA-7B), trains each for 2 steps per frozen-base mode (micro batch 1, cutoff
// 128, LoRA r 8 on q,v; each run in its own process: load time, peak RSS, step time, tokens/s, and the memory estimate
// beside the measured peak), then merges an adapter into it and exports HF shards, GGUF Q8_0 and GGUF F16 (MB/s against
// the disk's own write speed for the same bytes, measured right after, and peak RSS against the bound: the largest
// tensor in f32 + 256 MiB). With no model, mode or phase named, all of them run: the 7B takes a long time. `nocheck`
// skips the GGUF check (the exports' own readers and a llama.cpp load + 8 tokens, timed apart from the write), which on
// a busy 2-core machine takes longer than the write at 7B. `threads=N` runs the exports with N worker threads (0: on
// the export's own thread) instead of their default (one per core). Each export runs `repeats` times (3), each run
// followed by the disk's own speed for the same bytes and by a plain copy (the source read, the output's bytes written);
// the table gives the median ratio of the pairs with the smallest and largest. `old-path` trains each mode a second time
// on tfjs's matMul with W decoded just in time (LORA_STUDIO_CPU_MATMUL=tfjs), right after ours.
import { spawnSync } from 'node:child_process';
import { writeSyntheticAdapter } from '../main/engine/synthetic/synthetic-adapter.ts';
import { LLAMA_7B_SHAPE, TINYLLAMA_1B_SHAPE, writeSyntheticModel, type SyntheticShape } from '../main/engine/synthetic/synthetic-model.ts';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { Prng } from '../main/engine/data/prng.ts';
import { parseLlamaConfig } from '../main/engine/llama/config.ts';
import { expectedTensors } from '../main/engine/llama/tensors.ts';
import { diskCopySeconds, diskDirectWriteSpeed, diskWriteSpeed } from './export.ts';
import { formatRatio, spreadOf, type Spread } from './spread.ts';

export const SCALE_MODELS: Record<string, { label: string; shape: SyntheticShape }> = {
  tinyllama: {
    label: 'TinyLlama-1.1B',
    shape: TINYLLAMA_1B_SHAPE,
  },
  llama7b: {
    label: 'LLaMA-7B',
    shape: LLAMA_7B_SHAPE,
  },
};
export const BASE_MODES = ['f32', 'bf16', 'f16', 'int8', 'nf4'] as const;
const EXPORTS = [
  ['hf', 'merge → HF shards (f16, 2GB shards)'],
  ['q8_0', 'merge → GGUF Q8_0'],
  ['f16', 'merge → GGUF F16'],
] as const;
/** The export names on the command line (`f16` alone names a base mode). */
const EXPORT_ARGS: Record<string, string> = { hf: 'hf', q8_0: 'q8_0', 'gguf-f16': 'f16' };

export interface ScaleTrainRow {
  model: string;
  mode: string;
  status: string;
  loadSeconds?: number;
  peakRssBytes?: number;
  stepSeconds?: number[];
  tokensPerSecond?: number;
  estimateBytes?: number;
}
export interface ScaleExportRow {
  model: string;
  job: string;
  adapter: string;
  outputBytes: number;
  writeSeconds: number;
  verifySeconds: number;
  diskMBs: number;
  writePeakBytes: number;
  verifyPeakBytes: number;
  boundBytes: number;
  verification: string;
  /** The check was stopped by the timeout (the write's figures stand). */
  timedOut?: boolean;
  /** Output MB/s over the disk's MB/s, per run (each export paired with the disk reference right after it). */
  ratio?: Spread;
  /** A plain copy's time (the source read, the output's bytes written) over the export's, per run. */
  copyRatio?: Spread;
  /** Output MB/s over the disk's direct (O_DIRECT, dd) write MB/s, per run. */
  directRatio?: Spread;
  /** The 1-minute load average before the export and after the disk reference (other work slows every figure). */
  load?: [number, number];
}
/** What scale-export-worker.ts prints. */
interface WorkerExport {
  writeSeconds: number;
  writePeakBytes: number;
  verifySeconds: number;
  verifyPeakBytes: number;
  verification: string;
}

export interface ScaleResults {
  train: ScaleTrainRow[];
  export: ScaleExportRow[];
  markdown: string[];
}

const MiB = 2 ** 20;
const mib = (b?: number) => (b === undefined ? '–' : `${(b / MiB).toFixed(0)} MiB`);
const gib = (b?: number) => (b === undefined ? '–' : `${(b / 2 ** 30).toFixed(2)} GiB`);

/** A child process running a bench worker through tsx, with VmHWM printed on exit; undefined JSON when it failed. */
function runWorker(root: string, script: string, args: string[], timeoutS: number, env: Record<string, string> = {}) {
  const r = spawnSync(
    process.execPath,
    ['--import', path.join(root, 'test/helpers/hwm-exit.mjs'), '--import', 'tsx', path.join(root, 'bench', script), ...args],
    {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
      timeout: timeoutS * 1000,
      killSignal: 'SIGKILL',
      env: { ...process.env, ...env },
    },
  );
  const peak = Number(/VmHWM_BYTES=(\d+)/.exec(r.stderr ?? '')?.[1] ?? NaN);
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let json: Record<string, unknown> | undefined;
  try {
    json = line.startsWith('{') ? JSON.parse(line) : undefined;
  } catch {
    json = undefined;
  }
  const why =
    r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT'
      ? `timed out after ${timeoutS} s (killed)`
      : lastError(r.stderr ?? '', r.status, r.signal);
  return { json, peak: Number.isFinite(peak) ? peak : undefined, why };
}

function lastError(stderr: string, status: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('VmHWM_BYTES=') && !l.startsWith('at '));
  const text = lines.slice(-3).join(' / ').slice(-400);
  return `${signal ? `killed by ${signal}` : `exit ${status}`}: ${text || '(no message)'}`;
}

function folderBytes(p: string): number {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((n, f) => n + folderBytes(path.join(p, f)), 0) : s.size;
}

const ROW_WORDS = 'the quick brown fox jumps over the lazy dog while seven wizards quietly judge boxing matches';
/** Every character of the rows and their prompt template (for a character tokenizer without ../shared). */
const ROW_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;#-\'"?!()';

/** Alpaca rows long enough that every example is cut at cutoff_len: each step trains on exactly 128 tokens. */
function writeLongRows(file: string): void {
  const words = ROW_WORDS.split(' ');
  const prng = new Prng(3);
  const rows = Array.from({ length: 16 }, (_, i) => ({
    instruction: `Write paragraph ${i + 1}: ` + Array.from({ length: 200 }, () => words[prng.nextInt(words.length)]).join(' '),
    input: '',
    output: Array.from({ length: 100 }, () => words[prng.nextInt(words.length)]).join(' '),
  }));
  writeFileSync(file, JSON.stringify(rows));
}

export async function benchScale(root: string, work: string, tokenizerDir: string, args: string[]): Promise<ScaleResults> {
  const models = Object.keys(SCALE_MODELS).filter((m) => args.includes(m));
  const modes = BASE_MODES.filter((m) => args.includes(m));
  const phases = ['train', 'export'].filter((p) => args.includes(p));
  const exportsAsked = args.filter((a) => EXPORT_ARGS[a]).map((a) => EXPORT_ARGS[a]);
  if (exportsAsked.length && !phases.includes('export')) phases.push('export');
  const timeoutS = Number(/^timeout=(\d+)$/.exec(args.find((a) => a.startsWith('timeout=')) ?? '')?.[1] ?? 1800);
  const threads = /^threads=(\d+)$/.exec(args.find((a) => a.startsWith('threads=')) ?? '')?.[1];
  const repeats = Math.max(1, Number(/^repeats=(\d+)$/.exec(args.find((a) => a.startsWith('repeats=')) ?? '')?.[1] ?? 3));
  const results: ScaleResults = { train: [], export: [], markdown: [] };
  const loadAtStart = loadavg()[0];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  // The tables are rewritten after every row: a run stopped half-way (the 7B takes long) keeps what it measured.
  const save = () => {
    const md: string[] = [];
    // Other work on the machine slows every CPU-bound figure here; the load average says how much there was.
    md.push(
      `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus()[0]?.model ?? 'an unknown CPU'} (${availableParallelism()} threads), ${gib(totalmem())} RAM; wasm backend; ` +
        `load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end.`,
      '',
    );
    if (results.train.length) {
      md.push(
        '| model | base mode | load | peak RSS (VmHWM) | estimate | step 1 / step 2 | tokens/s | status |',
        '|---|---|---|---|---|---|---|---|',
      );
      for (const r of results.train) {
        const steps = r.stepSeconds ? r.stepSeconds.map((s) => `${s.toFixed(1)} s`).join(' / ') : '–';
        md.push(
          `| ${r.model} | ${r.mode} | ${r.loadSeconds === undefined ? '–' : `${r.loadSeconds.toFixed(1)} s`} | ${gib(r.peakRssBytes)} | ${gib(r.estimateBytes)} | ${steps} | ${r.tokensPerSecond === undefined ? '–' : r.tokensPerSecond.toFixed(1)} | ${r.status} |`,
        );
      }
      md.push('');
    }
    if (results.export.length) {
      md.push(
        '| model | export (adapter) | output | write (median) | MB/s | disk MB/s (median) | ratio (median of runs, min–max) | ratio to a direct write (dd oflag=direct) | speed vs a plain copy (source read + output written) | check (llama.cpp) | ratio incl. check | peak RSS write | bound (largest f32 + 256 MiB) | peak RSS check | load |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
      );
      for (const r of results.export) {
        if (!r.outputBytes) {
          md.push(`| ${r.model} | ${r.job} (${r.adapter}) | – | – | – | – | – | – | – | – | – | – | ${mib(r.boundBytes)} | – | – |`);
          continue;
        }
        const mbs = r.outputBytes / 1e6 / r.writeSeconds;
        const withCheck = r.outputBytes / 1e6 / (r.writeSeconds + r.verifySeconds);
        md.push(
          `| ${r.model} | ${r.job} (${r.adapter}) | ${mib(r.outputBytes)} | ${r.writeSeconds.toFixed(1)} s | ${mbs.toFixed(0)} | ${r.diskMBs.toFixed(0)} | ${r.ratio ? formatRatio(r.ratio) : `${(mbs / r.diskMBs).toFixed(2)}×`} | ${r.directRatio ? formatRatio(r.directRatio) : '–'} | ${r.copyRatio ? formatRatio(r.copyRatio) : '–'} | ${r.verifySeconds ? `${r.verifySeconds.toFixed(1)} s` : r.verification === 'not run' || r.verification === 'did not finish' ? `${r.verification}${r.timedOut ? ` in ${timeoutS} s` : ''}` : 'in write'} | ${r.verifySeconds || r.verification.startsWith('the HF') ? `${(withCheck / r.diskMBs).toFixed(2)}×` : '–'} | ${mib(r.writePeakBytes)} | ${mib(r.boundBytes)} | ${r.verifyPeakBytes ? mib(r.verifyPeakBytes) : '–'} | ${r.load ? `${r.load[0].toFixed(1)} → ${r.load[1].toFixed(1)}` : '–'} |`,
        );
      }
      md.push('');
    }
    results.markdown = md;
    mkdirSync(path.join(root, 'bench/results'), { recursive: true });
    writeFileSync(path.join(root, 'bench/results', `scale-${stamp}.md`), md.join('\n') + '\n');
    writeFileSync(
      path.join(root, 'bench/results', `scale-${stamp}.json`),
      JSON.stringify({ train: results.train, export: results.export }, null, 2),
    );
  };
  const data = path.join(work, 'scale-rows.json');
  writeLongRows(data);

  for (const key of models.length ? models : Object.keys(SCALE_MODELS)) {
    const { label, shape } = SCALE_MODELS[key];
    const base = path.join(work, `scale-${key}`);
    const t = performance.now();
    // LLaMA's own tokenizer when ../shared has it; else a character tokenizer of the bench rows' letters (every row is
    // still cut at cutoff_len, so each step trains on the same 128 tokens).
    const tokenizer = existsSync(path.join(tokenizerDir, 'tokenizer.json')) ? { copyFrom: tokenizerDir } : { alphabet: ROW_ALPHABET };
    const { params } = await writeSyntheticModel(base, shape, tokenizer, { dtype: 'BF16', maxShardBytes: 2e9 });
    console.error(
      `${label}: ${(params / 1e9).toFixed(2)}B parameters written as bf16 shards in ${((performance.now() - t) / 1000).toFixed(0)} s`,
    );
    let trainedAdapter: string | undefined;

    if (phases.length === 0 || phases.includes('train')) {
      // `old-path`: each mode also on tfjs's matMul with W decoded just in time (the path the GEMM kernels replaced),
      // right after ours, so the two share the machine's moment
      const paths = args.includes('old-path') ? [undefined, 'tfjs'] : [undefined];
      for (const mode of modes.length ? modes : BASE_MODES)
        for (const matmul of paths) {
          const runDir = path.join(work, `scale-run-${key}-${mode}${matmul ? `-${matmul}` : ''}`);
          console.error(`${label} ${mode}${matmul ? ' (tfjs matMul, old path)' : ''}: training 2 steps (timeout ${timeoutS} s)`);
          const env: Record<string, string> = matmul ? { LORA_STUDIO_CPU_MATMUL: matmul } : {};
          const r = runWorker(root, 'scale-train-worker.ts', [base, data, runDir, mode], timeoutS, env);
          const j = r.json as
            { loadSeconds: number; stepSeconds: number[]; tokensPerSecond: number; estimateBytes: number; adapterDir: string } | undefined;
          results.train.push(
            j
              ? {
                  model: label,
                  mode: matmul ? `${mode}, tfjs matMul (old path)` : mode,
                  status: 'ok',
                  loadSeconds: j.loadSeconds,
                  peakRssBytes: r.peak,
                  stepSeconds: j.stepSeconds,
                  tokensPerSecond: j.tokensPerSecond,
                  estimateBytes: j.estimateBytes,
                }
              : { model: label, mode: matmul ? `${mode}, tfjs matMul (old path)` : mode, status: `failed: ${r.why}`, peakRssBytes: r.peak },
          );
          save();
          if (j && !trainedAdapter) trainedAdapter = j.adapterDir;
          else rmSync(runDir, { recursive: true, force: true });
        }
    }

    if (phases.length === 0 || phases.includes('export')) {
      let adapter = trainedAdapter;
      const adapterLabel = adapter ? 'trained (2 steps)' : 'synthetic r 8 on q,v';
      if (!adapter) {
        adapter = path.join(work, `scale-adapter-${key}`);
        await writeSyntheticAdapter(adapter, base, { r: 8, targetModules: ['q_proj', 'v_proj'] });
      }
      const sources = readdirSync(base)
        .filter((f) => f.endsWith('.safetensors'))
        .map((f) => path.join(base, f));
      const config = parseLlamaConfig({ model_type: 'llama', ...shape });
      const largest = Math.max(...[...expectedTensors(config).values()].map((d) => d.reduce((a, b) => a * b, 1))) * 4;
      for (const [kind, jobName] of EXPORTS.filter(([k]) => !exportsAsked.length || exportsAsked.includes(k))) {
        const out = path.join(work, kind === 'hf' ? `scale-out-${key}-hf` : `scale-out-${key}-${kind}.gguf`);
        const job = threads === undefined ? jobName : `${jobName}, ${threads} worker threads`;
        const loadBefore = loadavg()[0];
        // Each run: the export, then the disk's own speed for the same bytes; the ratio is taken per pair (the disk's
        // figure swings with the page cache from minute to minute). Only the first run checks the GGUF.
        const runs: { writeSeconds: number; diskMBs: number; directMBs?: number; writePeakBytes: number; copySeconds: number }[] = [];
        let first: WorkerExport | undefined;
        let outputBytes = 0;
        let failure: string | undefined;
        for (let run = 0; run < repeats && !failure; run++) {
          console.error(`${label}: ${job} (run ${run + 1} of ${repeats})`);
          const check = run === 0 && !args.includes('nocheck') ? 'check' : 'nocheck';
          const r = runWorker(
            root,
            'scale-export-worker.ts',
            [kind, base, adapter, out, check, ...(threads === undefined ? [] : [threads])],
            timeoutS,
          );
          const j = r.json as WorkerExport | undefined;
          if (!j) failure = r.why;
          else {
            first ??= j;
            outputBytes = folderBytes(out);
          }
          rmSync(out, { recursive: true, force: true }); // before the disk reference, so both see the same free space
          if (j)
            runs.push({
              writeSeconds: j.writeSeconds,
              writePeakBytes: j.writePeakBytes,
              diskMBs: diskWriteSpeed(work, outputBytes),
              directMBs: diskDirectWriteSpeed(work, outputBytes),
              copySeconds: diskCopySeconds(sources, work, outputBytes),
            });
        }
        if (!first || failure) {
          results.export.push({
            model: label,
            job: `${job}: failed: ${failure}`,
            adapter: adapterLabel,
            outputBytes: 0,
            writeSeconds: 0,
            verifySeconds: 0,
            diskMBs: 0,
            writePeakBytes: 0,
            verifyPeakBytes: 0,
            boundBytes: largest + 256 * MiB,
            verification: '',
          });
          save();
          continue;
        }
        const median = (xs: number[]) => spreadOf(xs).median;
        results.export.push({
          model: label,
          job,
          adapter: adapterLabel,
          outputBytes,
          writeSeconds: median(runs.map((r) => r.writeSeconds)),
          verifySeconds: first.verifySeconds,
          verifyPeakBytes: first.verifyPeakBytes,
          verification: first.verification,
          diskMBs: median(runs.map((r) => r.diskMBs)),
          ratio: spreadOf(runs.map((r) => outputBytes / 1e6 / r.writeSeconds / r.diskMBs)),
          copyRatio: spreadOf(runs.map((r) => r.copySeconds / r.writeSeconds)),
          directRatio: runs.every((r) => r.directMBs)
            ? spreadOf(runs.map((r) => outputBytes / 1e6 / r.writeSeconds / r.directMBs!))
            : undefined,
          writePeakBytes: Math.max(...runs.map((r) => r.writePeakBytes)),
          boundBytes: largest + 256 * MiB,
          timedOut: first.verification === 'did not finish',
          load: [loadBefore, loadavg()[0]],
        });
        save();
      }
    }
    rmSync(base, { recursive: true, force: true });
  }

  save();
  return results;
}
