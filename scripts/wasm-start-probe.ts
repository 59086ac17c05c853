/**
 * Start the wasm backend (SIMD, thread pool) many times, each in a fresh process, and report how long each start
 * took and which ones stalled: the way to chase a start that hangs once in a few hundred.
 *
 *   node --import tsx scripts/wasm-start-probe.ts [runs=200] [threads=2] [stall_s=30]
 *
 * A child that has not started and run one threaded matmul within stall_s is killed and its output kept.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

if (process.argv[2] === '--child') {
  const threads = Number(process.argv[3]);
  const t0 = performance.now();
  const stage = (name: string) => console.error(`stage ${name} at ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  stage('import');
  const { initBackend } = await import('../main/engine/backend/index.ts');
  const tf = await import('@tensorflow/tfjs');
  const t1 = performance.now();
  stage('init');
  const info = await initBackend('wasm', { threads });
  const t2 = performance.now();
  stage('matmul');
  const a = tf.randomNormal([512, 512]);
  await tf.matMul(a, a).data();
  const t3 = performance.now();
  console.log(JSON.stringify({ import: t1 - t0, init: t2 - t1, matmul: t3 - t2, threads: info.threads }));
  process.exit(0);
}

const runs = Number(process.argv[2] ?? 200);
const threads = Number(process.argv[3] ?? 2);
const stallMs = Number(process.argv[4] ?? 30) * 1000;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const times: number[] = [];
const stalls: { run: number; output: string }[] = [];
for (let run = 1; run <= runs; run++) {
  const started = performance.now();
  const r = await new Promise<{ code: number | null; output: string; stalled: boolean }>((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, new URL(import.meta.url).pathname, '--child', String(threads)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let stalled = false;
    const timer = setTimeout(() => {
      stalled = true;
      child.kill('SIGKILL');
    }, stallMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, stalled });
    });
  });
  const ms = performance.now() - started;
  if (r.stalled || r.code !== 0) {
    stalls.push({ run, output: r.output });
    console.log(`run ${run}: ${r.stalled ? `STALLED (killed after ${stallMs / 1000} s)` : `exit ${r.code}`}\n${r.output.trim()}`);
  } else {
    times.push(ms);
    const line = r.output
      .trim()
      .split('\n')
      .find((l) => l.startsWith('{'));
    console.log(`run ${run}: ${(ms / 1000).toFixed(2)} s ${line}`);
  }
}
times.sort((a, b) => a - b);
const q = (p: number) => (times[Math.min(times.length - 1, Math.floor(p * times.length))] / 1000).toFixed(2);
console.log(`${runs} starts, ${stalls.length} stalled or failed; whole process median ${q(0.5)} s, p95 ${q(0.95)} s, max ${q(1)} s`);
