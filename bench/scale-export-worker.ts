// One export of `npm run bench -- scale`, in its own process so its peak RSS is its own:
// tsx bench/scale-export-worker.ts hf|q8_0|f16 BASE_DIR ADAPTER_DIR OUTPUT check|nocheck [THREADS] → one JSON line on stdout
// (THREADS: the export's worker threads, 0 = encode on the main thread; the export's own default when absent).
// The write (merge + export, as the merge and quantize commands run it) and the GGUF check (our readers, then a load
// and 8 generated tokens in llama.cpp) are timed apart, and each gets its own peak RSS: VmHWM is read after the
// write, then reset (/proc/self/clear_refs) so the check's peak, with llama.cpp's mapped file, is counted alone.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeGgufChecks, verifyGguf } from '../main/engine/export/gguf-verify.ts';
import { exportHfCheckpoint } from '../main/engine/export/hf-export.ts';
import { openExportInput } from '../main/engine/export/open-model.ts';
import { parseShardSize } from '../main/engine/export/shard-size.ts';
import { exportLlamaGguf } from '../main/engine/export/gguf-llama.ts';

const [kind, baseDir, adapterDir, output, check, threadsArg] = process.argv.slice(2);
const threads = threadsArg === undefined ? undefined : Number(threadsArg);

function vmHwm(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
}

const start = performance.now();
const input = await openExportInput(baseDir, adapterDir);
let tensors: number;
try {
  if (kind === 'hf') {
    // The merge command's defaults: f16, 2GB shards.
    const r = await exportHfCheckpoint({
      source: input.source,
      config: input.config,
      baseDir,
      outDir: output,
      maxShardSize: parseShardSize('2GB'),
      dtype: 'f16',
      threads,
    });
    tensors = r.tensors;
  } else {
    const r = await exportLlamaGguf(input.source, input.config, baseDir, output, {
      fileType: kind as 'q8_0' | 'f16',
      name: path.basename(output, '.gguf'),
      threads,
    });
    tensors = r.tensors.length;
  }
} finally {
  await input.source.close();
}
const writeSeconds = (performance.now() - start) / 1000;
const writePeakBytes = vmHwm();
let verifySeconds = 0;
let verifyPeakBytes = 0;
let verification = 'the HF export reopens every shard and the index before it renames the folder into place (in the write time)';
if (kind !== 'hf' && check === 'nocheck') verification = 'not run';
else if (kind !== 'hf') {
  // The write's figures first: a check killed by the parent's timeout leaves them as the last line.
  console.log(JSON.stringify({ writeSeconds, writePeakBytes, verifySeconds, verifyPeakBytes, verification: 'did not finish' }));
  try {
    writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  } catch {
    // an old kernel: the check's peak then includes the write's
  }
  const t = performance.now();
  const v = describeGgufChecks(await verifyGguf(output, tensors));
  verifySeconds = (performance.now() - t) / 1000;
  verifyPeakBytes = vmHwm();
  verification = `${v.huggingfaceGguf}; ${v.strictReader}; ${v.llamaCpp}`;
}
console.log(JSON.stringify({ writeSeconds, writePeakBytes, verifySeconds, verifyPeakBytes, verification }));
process.exit(0);
