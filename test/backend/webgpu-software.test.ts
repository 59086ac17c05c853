// tfjs-backend-webgpu on the SwiftShader (software) adapter against the wasm backend: logits, LoRA gradients and a
// 10-step loss curve, on a model of stories260K's shape and rows the test writes (cases.ts). It runs in CI without a
// GPU; with no adapter (libvulkan1 or chromium's SwiftShader ICD missing) every test is skipped, saying why. The wasm
// side runs in a child process (wasm-reference.ts says why).
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackend, initBackend } from '../../main/engine/backend/index.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { TINY_SHAPE, tinyModel } from '../helpers/synthetic.ts';
import { FINETUNE_STEPS, caseData, caseModel, finetuneCase, gradientsCase, logitsCase, type CaseResults } from './cases.ts';
import { workFolder } from '../helpers/work-folder.ts';

async function noAdapter(): Promise<string | undefined> {
  try {
    console.log(describeBackend(await initBackend('webgpu-software')));
    return undefined;
  } catch (e) {
    const reason = `skipped: no WebGPU software adapter (${(e as Error).message})`;
    console.warn(reason);
    return reason;
  }
}

const skip = await noAdapter();

/** The wasm results, computed by wasm-reference.ts in a child process and passed back in a file. */
function wasmReference(modelDir: string, dataPath: string): Promise<CaseResults> {
  const tsx = path.resolve('node_modules/tsx/dist/cli.mjs');
  const out = path.join(workFolder('wasm-ref'), 'reference.json');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [tsx, path.resolve('test/backend/wasm-reference.ts'), out, modelDir, dataPath],
      { maxBuffer: 1 << 24 },
      (err, _stdout, stderr) => {
        if (err) reject(new Error(`wasm reference failed: ${err.message}\n${stderr.slice(-2000)}`));
        else resolve(JSON.parse(readFileSync(out, 'utf8')));
      },
    );
  });
}

describe.skipIf(skip)('webgpu-software (SwiftShader) equals wasm on a tiny LLaMA of stories260K’s shape', () => {
  let reference: Promise<CaseResults>;
  let modelDir: string;
  const dataPath = caseData();
  beforeAll(async () => {
    modelDir = await caseModel();
    reference = wasmReference(modelDir, dataPath);
    reference.catch(() => {}); // reported by the tests that await it
  });

  it('logits within 1e-4 absolute', async () => {
    const ours = await logitsCase(modelDir);
    const ref = (await reference).logits;
    expect(ours.length).toBe(ref.length);
    const maxDiff = Math.max(...ours.map((v, i) => Math.abs(v - ref[i])));
    console.log(`logits: max |webgpu − wasm| = ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-4);
  }, 300_000);

  it('LoRA gradients within 1e-4 relative (every target module, padded rows)', async () => {
    const ours = await gradientsCase(modelDir);
    const ref = await reference;
    expect(Math.abs(ours.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    expect(ours.grads.length).toBe(ref.grads.length);
    let worst = 0;
    ours.grads.forEach((g, k) => {
      const r = ref.grads[k];
      const maxRef = Math.max(...r.map(Math.abs));
      const maxDiff = Math.max(...g.map((v, i) => Math.abs(v - r[i])));
      worst = Math.max(worst, maxDiff / maxRef);
      expect(maxDiff / maxRef, `variable ${k}`).toBeLessThan(1e-4);
    });
    console.log(`gradients: worst max|Δ|/max|ref| = ${worst.toExponential(2)}`);
  }, 300_000);

  it(`${FINETUNE_STEPS} training steps (runFinetune) give the loss curve of wasm within 1e-3`, async () => {
    const ours = await finetuneCase('webgpu-software', modelDir, dataPath);
    const ref = (await reference).stepLosses;
    expect(ours.length).toBe(FINETUNE_STEPS);
    expect(ref.length).toBe(FINETUNE_STEPS);
    console.log(
      `loss curve: max |webgpu − wasm| = ${Math.max(...ours.map((l, i) => Math.abs(l - ref[i]))).toExponential(2)} over ${FINETUNE_STEPS} steps`,
    );
    ours.forEach((l, i) => expect(Math.abs(l - ref[i]), `step ${i + 1}`).toBeLessThan(1e-3));
    expect(ours[FINETUNE_STEPS - 1]).toBeLessThan(ours[0]); // and it learns
  }, 600_000);

  it('runFinetune refuses before the first step when one tensor would exceed the adapter binding limit', async () => {
    // SwiftShader binds at most 1 GiB; 8 rows of 4096 tokens (one per character) give attention probabilities of
    // 8 × 8 heads × T² f32 > 1 GiB.
    const dir = workFolder('guard');
    const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. '.repeat(80);
    writeFileSync(
      path.join(dir, 'long.json'),
      JSON.stringify(Array.from({ length: 8 }, (_, i) => ({ instruction: `Tell story ${i}.`, input: '', output: story }))),
    );
    // The tiny model with a longer context, so cutoff_len 4096 is a valid setting and only the device limit refuses it.
    const model = await tinyModel({ ...TINY_SHAPE, max_position_embeddings: 8192 });
    const events: TrainingEvent[] = [];
    const config = parseFinetuneConfig({
      base_model: model,
      data_path: path.join(dir, 'long.json'),
      output_dir: path.join(dir, 'run'),
      batch_size: 8,
      micro_batch_size: 8,
      cutoff_len: 4096,
      val_set_size: 0,
      backend: 'webgpu-software',
    });
    await expect(runFinetune(config, (e) => events.push(e))).rejects.toThrow(
      /training does not fit on the WebGPU device SwiftShader driver 5\.0\.0: the attention probabilities of one layer \(8 × 8 heads × \d+ × \d+ f32\) takes \d+\.\d\d GiB, more than the 1\.00 GiB one buffer may hold .*Lower micro_batch_size \(8\) or cutoff_len \(4096\)\./,
    );
    expect(events.some((e) => e.type === 'step')).toBe(false);
  }, 120_000);
});
