// `npm run bench`: our engine and trainer against references measured in the same run on this machine.
// Inference: prefill/decode tokens/s vs llama.cpp (node-llama-cpp) on our own F32 GGUF export of the same weights.
// Training: LoRA tokens/s and peak RSS vs PyTorch (Debian python3-torch + OpenBLAS) on the same config and batch;
// a WebGPU row when a hardware adapter exists (else the reason it was skipped), and the SwiftShader (software) adapter
// only when asked for by name (`npm run bench -- train webgpu-software`): it is ~100x slower than wasm.
// Kernels: the fused WGSL kernels against tfjs's own ops on one WebGPU adapter (`npm run bench -- kernels`), and the
// packed frozen-weight matmul (every storage mode) against tfjs's matmul on the dequantized weights.
// GPU profile: every dispatch of one training step and its predicted time on a machine (`npm run bench -- gpu-profile`).
// Scale: real-size synthetic models, trained per frozen-base mode and exported (`npm run bench -- scale`, see scale.ts);
// only when asked for by name, and alone.
// Cluster: the PyTorch cluster trainer against bench/torch_train.py, and at 1 and 2 ranks (`npm run bench -- cluster`,
// see cluster.ts).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../main/engine/backend/index.ts';
import { benchExport, type ExportRow } from './export.ts';
import { benchFiniteScan, type ScanRow } from './finite-scan.ts';
import { benchInference, type InferenceRow } from './inference.ts';
import { TINYLLAMA_1B_SHAPE, writeSyntheticModel } from '../main/engine/synthetic/synthetic-model.ts';
import { benchScale, type ScaleResults } from './scale.ts';
import { benchCluster, SYNTHETIC_20M_SHAPE, type ClusterResults } from './cluster.ts';
import { benchGemm, type GemmRow } from './gemm.ts';
import { WIDE_SPREAD, formatRatio, isWide, pairedRatios, spreadOf, type Spread } from './spread.ts';

// `bench -- gpu-profile`: its own module and flags (a dispatch profile, no reference to run against).
if (process.argv[2] === 'gpu-profile') {
  await import('./gpu-profile/index.ts');
  process.exit(0);
}
// `bench -- cpu-profile MODEL_DIR BATCH SEQ [THREADS]`: where a CPU training step's time goes (tfjs's profile).
if (process.argv[2] === 'cpu-profile') {
  await import('./cpu-profile.ts');
  process.exit(0);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(root, '../shared/data');
const stories = path.join(shared, 'models/stories260K');
const llamaTokenizer = path.join(shared, 'tokenizers/llama');
const threads = availableParallelism();
const work = mkdtempSync(path.join(tmpdir(), 'lora-studio-bench-'));
const only = process.argv.slice(2);
// `quick`: the small models only, fewer tokens and steps (a check that the bench runs, not a measurement to quote).
const quick = only.includes('quick');
// `threads=N` (the cluster part): its processes use N threads instead of every core; 1 keeps a busy machine's
// contention out of the threads' own synchronization.
const threadsArg = only.find((a) => a.startsWith('threads='));
const parts = only.filter((a) => a !== 'quick' && a !== threadsArg);
const clusterThreads = threadsArg ? Math.max(1, Number(threadsArg.slice('threads='.length)) || 1) : threads;
// `scale` and `gemm` run alone (their own models and flags).
const want = (part: string) => !only.includes('scale') && !only.includes('gemm') && (parts.length === 0 || parts.includes(part));
let gemmMarkdown: string[] = [];
// Each side runs at least 3 times, ours and the reference alternating, so one slow moment cannot make a ratio.
const repeats = Math.max(3, Number(process.env.BENCH_REPEATS ?? 3));

interface TrainRow {
  model: string;
  config: string;
  backend: string;
  threads: string;
  ours: number;
  torch: number;
  ratio: Spread;
  oursRss: number;
  torchRss: number;
}
interface KernelRow {
  backend: string;
  config: string;
  fused: { kernels: number; dispatches: number; ms: number };
  plain: { kernels: number; dispatches: number; ms: number };
}
interface MatmulRow {
  backend: string;
  kernel: string;
  dtype: string;
  shape: string;
  direction: string;
  ours: number;
  tfjs: number;
  ours_gflops: number;
  tfjs_gflops: number;
}
const results: {
  inference: InferenceRow[];
  training: TrainRow[];
  export: ExportRow[];
  kernels: KernelRow[];
  matmul: MatmulRow[];
  scan: ScanRow[];
  scale?: ScaleResults;
  cluster?: ClusterResults;
  gemm?: GemmRow[];
  notes: string[];
} = {
  inference: [],
  training: [],
  export: [],
  kernels: [],
  matmul: [],
  scan: [],
  notes: [],
};
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

try {
  // Every part but the cluster trainer's reads stories260K and runs our tfjs engine.
  const clusterOnly = parts.length === 1 && parts[0] === 'cluster';
  if (!existsSync(stories) && !clusterOnly) throw new Error(`the benchmark needs ${stories} (../shared/data beside the checkout)`);
  const backend = clusterOnly ? undefined : await initBackend('wasm', { threads });
  results.notes.push(
    backend
      ? `ours: ${backend.detail}; llama.cpp: node-llama-cpp 3.21.1 CPU, ${threads} threads; PyTorch: ${torchVersion()}, ${threads} threads`
      : `cluster trainer and reference: ${torchVersion()} on the CPU, ${clusterThreads} thread(s) (the 2-rank run: ${Math.max(1, Math.floor(clusterThreads / 2))} per rank)`,
  );
  results.notes.push(
    `every ratio: the median of ${repeats} runs per side, ours and the reference alternating, with the smallest and largest run in brackets; ⚠ marks a spread over ${WIDE_SPREAD}× (a busy machine: rerun before quoting it)`,
  );

  if (want('inference')) {
    results.inference.push(await benchInference('stories260K', stories, work, threads, 128, quick ? 32 : 128, repeats));
  }
  if (want('inference') && !quick) {
    const synth = path.join(work, 'synthetic-100M');
    await writeSyntheticModel(
      synth,
      {
        hidden_size: 768,
        intermediate_size: 2048,
        num_hidden_layers: 12,
        num_attention_heads: 12,
        num_key_value_heads: 12,
        vocab_size: 32000,
        tie_word_embeddings: true,
      },
      { copyFrom: llamaTokenizer },
    );
    results.inference.push(await benchInference('synthetic-100M', synth, work, threads, 64, 32, repeats));
  }
  if (want('train')) {
    const synth20 = path.join(work, 'synthetic-20M');
    await writeSyntheticModel(synth20, SYNTHETIC_20M_SHAPE, { copyFrom: stories });
    const webgpu = probeWebgpu(stories);
    if (webgpu) results.notes.push(webgpu);
    // The issue-20 shapes: a d256 × 4-layer LLaMA with a 32k vocabulary (its LM head is most of the work), and a
    // 2-layer slice at TinyLlama's widths in f32 (micro batch 1 × 128; gradient checkpointing off on both sides).
    const d256 = path.join(work, 'd256x4-32k');
    const slice = path.join(work, 'tinyllama-slice');
    if (!quick) {
      await writeSyntheticModel(
        d256,
        {
          hidden_size: 256,
          intermediate_size: 688,
          num_hidden_layers: 4,
          num_attention_heads: 4,
          num_key_value_heads: 4,
          vocab_size: 32000,
          tie_word_embeddings: false,
        },
        { copyFrom: llamaTokenizer },
      );
      await writeSyntheticModel(slice, { ...TINYLLAMA_1B_SHAPE, num_hidden_layers: 2 }, { copyFrom: llamaTokenizer });
    }
    const models = quick
      ? ([['stories260K', stories, 2, 64, 4]] as const)
      : ([
          ['stories260K', stories, 4, 128, 20],
          ['synthetic-20M', synth20, 4, 128, 6],
          ['d256 × 4 layers, 32k vocab', d256, 4, 64, 6],
          ['TinyLlama-1.1B, 2-layer slice, f32', slice, 1, 128, 3],
        ] as const);
    for (const [name, dir, batch, seq, steps] of models) {
      const targets = 'q_proj,v_proj';
      const torchRun = () =>
        runJson(
          '/usr/bin/python3',
          [path.join(root, 'bench/torch_train.py'), dir, targets, String(batch), String(seq), String(steps), '8'],
          {
            OMP_NUM_THREADS: String(threads),
            OMP_WAIT_POLICY: 'PASSIVE',
          },
        );
      const config = `micro-batch ${batch} × ${seq} tokens, LoRA r 8 on ${targets}`;
      const backends: [string, number][] = [['wasm', steps]];
      // `old-path`: also the tfjs matMul path (resident f32 or just-in-time decode) our GEMM kernels replaced
      if (only.includes('old-path')) backends.push(['wasm-tfjs', steps]);
      if (!webgpu) backends.push(['webgpu', steps]);
      // The software adapter: a few steps of the smallest model only, labelled as such.
      if (only.includes('webgpu-software') && name === 'stories260K') backends.push(['webgpu-software', 3]);
      for (const [backend, n] of backends) {
        const ours: ReturnType<typeof runJson>[] = [];
        const torch: ReturnType<typeof runJson>[] = [];
        for (let r = 0; r < repeats; r++) {
          torch.push(torchRun());
          ours.push(trainWorker(dir, targets, batch, seq, n, backend === 'wasm-tfjs' ? 'wasm' : backend, backend === 'wasm-tfjs'));
        }
        const tps = (runs: ReturnType<typeof runJson>[]) => runs.map((x) => x.tokens_per_second);
        results.training.push({
          model: name,
          config: n === steps ? config : `${config}, ${n} steps`,
          backend: backend === 'wasm-tfjs' ? `${ours[0].backend}, tfjs matMul (old path)` : ours[0].backend,
          threads: `${ours[0].threads ?? '?'} / ${torch[0].threads ?? '?'}`,
          ours: spreadOf(tps(ours)).median,
          torch: spreadOf(tps(torch)).median,
          ratio: pairedRatios(tps(ours), tps(torch)),
          oursRss: Math.max(...ours.map((x) => x.peak_rss_bytes)),
          torchRss: Math.max(...torch.map((x) => x.peak_rss_bytes)),
        });
      }
    }
  }
  if (want('export') && !quick) results.export = await benchExport(work, stories);
  if (want('kernels') && !quick) results.kernels = benchKernels();
  if ((want('kernels') && !quick) || only.includes('matmul')) results.matmul = benchPackedMatmul(); // `-- matmul`: this part alone
  if (only.includes('scale')) results.scale = await benchScale(root, work, llamaTokenizer, only);
  if (only.includes('scan')) results.scan = benchFiniteScan(repeats); // `-- scan`: the NaN / Inf scan alone
  if (only.includes('gemm')) {
    const gemm = await benchGemm(root, threads, repeats, only);
    results.gemm = gemm.rows;
    gemmMarkdown = gemm.markdown;
  }
  if (want('cluster')) results.cluster = await benchCluster(root, work, clusterThreads, repeats, quick);
} finally {
  rmSync(work, { recursive: true, force: true });
}

const lines: string[] = [];
if (results.inference.length) {
  lines.push(
    '| model | params | threads ours / llama.cpp | prefill ours | prefill llama.cpp | ratio (min–max) | decode ours | decode llama.cpp | ratio (min–max) |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results.inference) {
    lines.push(
      `| ${r.model} | ${(r.params / 1e6).toFixed(1)}M | ${r.threads} / ${r.threads} | ${r.oursPrefill.toFixed(0)} tok/s | ${r.llamaCppPrefill.toFixed(0)} tok/s | ${formatRatio(r.prefillRatio)} | ${r.oursDecode.toFixed(1)} tok/s | ${r.llamaCppDecode.toFixed(1)} tok/s | ${formatRatio(r.decodeRatio)} |`,
    );
  }
  lines.push('');
}
if (results.training.length) {
  lines.push(
    '| model | config | ours on | threads ours / PyTorch | train ours | train PyTorch | ratio (min–max) | peak RSS ours | peak RSS PyTorch |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const r of results.training)
    lines.push(
      `| ${r.model} | ${r.config} | ${r.backend} | ${r.threads} | ${r.ours.toFixed(r.ours < 10 ? 1 : 0)} tok/s | ${r.torch.toFixed(0)} tok/s | ${formatRatio(r.ratio)} | ${mb(r.oursRss)} | ${mb(r.torchRss)} |`,
    );
  lines.push('');
}
if (results.export.length) {
  lines.push(
    '| export (~1 GB synthetic + LoRA) | output | time | throughput | disk write | ratio | peak RSS | largest tensor + 256 MiB |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const r of results.export) {
    lines.push(
      `| ${r.job} | ${mb(r.outputBytes)} | ${r.seconds.toFixed(1)} s | ${r.throughputMBs.toFixed(0)} MB/s | ${r.diskMBs.toFixed(0)} MB/s | ${(r.throughputMBs / r.diskMBs).toFixed(2)}× | ${mb(r.peakRssBytes)} | ${mb(r.largestTensorBytes + 256 * 2 ** 20)} |`,
    );
  }
  lines.push('');
}
if (results.kernels.length) {
  lines.push(
    '| fused WGSL kernels vs tfjs ops | config | tfjs kernels per step fused / plain | GPU dispatches per step fused / plain | ms per step fused / plain | speed ratio |',
    '|---|---|---|---|---|---|',
  );
  for (const r of results.kernels)
    lines.push(
      `| ${r.backend} | ${r.config} | ${r.fused.kernels} / ${r.plain.kernels} | ${r.fused.dispatches} / ${r.plain.dispatches} | ${r.fused.ms.toFixed(0)} / ${r.plain.ms.toFixed(0)} | ${(r.plain.ms / r.fused.ms).toFixed(2)}× |`,
    );
  lines.push('');
}
if (results.matmul.length) {
  lines.push(
    '| packed matmul vs tfjs matMul (dequantized f32 W) | kernel | W mode | product | ms ours / tfjs | GFLOP/s ours / tfjs | speed ratio |',
    '|---|---|---|---|---|---|---|',
  );
  for (const r of results.matmul)
    lines.push(
      `| ${r.backend} | ${r.kernel} | ${r.dtype} | ${r.direction}, ${r.shape} | ${r.ours.toFixed(1)} / ${r.tfjs.toFixed(1)} | ${r.ours_gflops.toFixed(2)} / ${r.tfjs_gflops.toFixed(2)} | ${(r.tfjs / r.ours).toFixed(2)}× |`,
    );
  lines.push('');
}
if (results.scan.length) {
  lines.push('| NaN / Inf scan of stored weights | path | scan | plain copy of the same bytes | scan / copy |', '|---|---|---|---|---|');
  for (const r of results.scan)
    lines.push(`| ${r.dtype} | ${r.path} | ${r.scanGBs.toFixed(2)} GB/s | ${r.copyGBs.toFixed(2)} GB/s | ${formatRatio(r.ratio)} |`);
  lines.push('');
}
if (results.scale) lines.push(...results.scale.markdown);
lines.push(...gemmMarkdown);
if (results.cluster) lines.push(...results.cluster.markdown);
const wide = [
  ...results.inference.flatMap((r) => [r.prefillRatio, r.decodeRatio]),
  ...results.training.map((r) => r.ratio),
  ...(results.cluster ? [results.cluster.stepTimeRatio] : []),
].filter(isWide).length;
if (wide)
  results.notes.push(
    `WARNING: ${wide} ratio(s) spread over ${WIDE_SPREAD}× between runs: the machine was busy; these medians are not to be quoted`,
  );
lines.push(...results.notes.map((n) => `- ${n}`));
console.log(lines.join('\n'));
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
const out = path.join(root, 'bench/results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(results, null, 2));
console.log(`\nwritten: ${path.relative(root, out)}`);
process.exit(0);

function trainWorker(dir: string, targets: string, batch: number, seq: number, steps: number, backend: string, oldPath = false) {
  const args = [
    path.join(root, 'node_modules/tsx/dist/cli.mjs'),
    path.join(root, 'bench/train-worker.ts'),
    dir,
    targets,
    String(batch),
    String(seq),
    String(steps),
    '8',
    backend,
    String(threads),
  ];
  return runJson(process.execPath, args, oldPath ? { LORA_STUDIO_CPU_MATMUL: 'tfjs' } : {});
}

/**
 * Undefined when a hardware WebGPU adapter trains (a tiny run in a child process: the adapter, the shaders and
 * tfjs-webgpu all have to work), else why the webgpu row is skipped.
 */
function probeWebgpu(model: string): string | undefined {
  try {
    trainWorker(model, 'q_proj', 1, 8, 1, 'webgpu');
    return undefined;
  } catch (e) {
    const why = /backend webgpu: (.*)/.exec((e as Error).message)?.[1] ?? (e as Error).message.split('\n')[0];
    console.error(`webgpu: ${why}; skipped`);
    return `webgpu: ${why}; skipped`;
  }
}

/**
 * The fused WGSL kernels (RMSNorm, SwiGLU, masked softmax, RoPE, LoRA, cross-entropy, tiled attention products) against tfjs's own ops on the same WebGPU adapter: a hardware
 * one when there is one; SwiftShader only when asked (`bench kernels webgpu-software`), as it emulates a GPU on the CPU.
 */
function benchKernels(): KernelRow[] {
  const backend = only.includes('webgpu-software') ? 'webgpu-software' : 'webgpu';
  const [B, T, steps] = backend === 'webgpu' ? [4, 256, 10] : [4, 128, 2];
  const side = (fused: '0' | '1') => {
    const r = spawnSync(
      process.execPath,
      [
        path.join(root, 'node_modules/tsx/dist/cli.mjs'),
        path.join(root, 'bench/kernels-worker.ts'),
        stories,
        backend,
        String(B),
        String(T),
        String(steps),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, LORA_STUDIO_FUSED_KERNELS: fused },
      },
    );
    const line = r.stdout.trim().split('\n').pop() ?? '';
    if (!line.startsWith('{')) throw new Error(/backend [\w-]+: (.*)/.exec(r.stderr)?.[1] ?? r.stderr.slice(-500));
    return JSON.parse(line) as { backend: string; kernels: number; dispatches: number; ms_per_step: number };
  };
  try {
    const fused = side('1');
    const plain = side('0');
    return [
      {
        backend: fused.backend,
        config: `stories260K, micro-batch ${B} × ${T}, LoRA r 8 on q_proj,v_proj`,
        fused: { kernels: fused.kernels, dispatches: fused.dispatches, ms: fused.ms_per_step },
        plain: { kernels: plain.kernels, dispatches: plain.dispatches, ms: plain.ms_per_step },
      },
    ];
  } catch (e) {
    const why = `fused kernels: no ${backend} adapter here (${(e as Error).message.trim()}); skipped${backend === 'webgpu' ? ' (bench kernels webgpu-software uses SwiftShader)' : ''}`;
    console.error(why);
    results.notes.push(why);
    return [];
  }
}

/** The packed-matmul worker: a TinyLlama MLP-shaped product on a GPU, a small one on SwiftShader (~0.3 GFLOP/s). */
function benchPackedMatmul(): MatmulRow[] {
  const backend = only.includes('webgpu-software') ? 'webgpu-software' : 'webgpu';
  const [n, rows, cols, iters] = backend === 'webgpu' ? [1024, 5632, 2048, 20] : [64, 256, 256, 5];
  const r = spawnSync(
    process.execPath,
    [
      path.join(root, 'node_modules/tsx/dist/cli.mjs'),
      path.join(root, 'bench/matmul-worker.ts'),
      backend,
      String(n),
      String(rows),
      String(cols),
      String(iters),
    ],
    { encoding: 'utf8' },
  );
  const found = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as MatmulRow);
  if (!found.length) {
    const why = `packed matmul: no ${backend} adapter here (${(/backend [\w-]+: (.*)/.exec(r.stderr)?.[1] ?? r.stderr.slice(-500)).trim()}); skipped`;
    console.error(why);
    results.notes.push(why);
  } else if (backend === 'webgpu-software') {
    results.notes.push('packed matmul on SwiftShader (a CPU emulation of a GPU, shared cores): the ratios say little about a real GPU');
  }
  return found;
}

function runJson(cmd: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as { tokens_per_second: number; peak_rss_bytes: number; backend: string; threads?: number };
  } catch {
    throw new Error(`${path.basename(args[args.length > 1 ? 1 : 0])} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  }
}

function torchVersion(): string {
  try {
    return `torch ${execFileSync('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).trim()}`;
  } catch {
    return 'torch unavailable';
  }
}
