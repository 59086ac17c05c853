// Loading streams a checkpoint one tensor at a time into its storage mode: the peak RSS of a process that loads a
// ~340 MB bf16 model stays under the stored model + the largest tensor in f32 + 256 MiB (a memory bound, measured).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { LOWERCASE_ALPHABET } from '../helpers/synthetic.ts';

const work = mkdtempSync(path.join(tmpdir(), 'load-memory-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const SHAPE = {
  hidden_size: 1024,
  intermediate_size: 2816,
  num_hidden_layers: 12,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  vocab_size: 8192,
  tie_word_embeddings: false,
};
const LARGEST_F32 = 8192 * 1024 * 4; // the embedding (and lm_head)

function loadInChild(
  dir: string,
  mode: string,
): Promise<{ peak: number; out: { baseDtype: string; placement: string; heldBytes: number }; stderr: string }> {
  const args = ['--import', './test/helpers/hwm-exit.mjs', '--import', 'tsx', 'test/helpers/load-model-child.ts', dir, mode];
  return new Promise((resolve, reject) =>
    execFile(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve({ peak: Number(/VmHWM_BYTES=(\d+)/.exec(stderr)?.[1]), out: JSON.parse(stdout.trim().split('\n').pop()!), stderr });
    }),
  );
}

describe('loading a checkpoint into its storage mode', () => {
  it('keeps peak RSS under the stored model + the largest tensor in f32 + 256 MiB, for bf16, int8 and nf4', async () => {
    const dir = path.join(work, 'model');
    const { tensorBytes: fileBytes } = await writeSyntheticModel(dir, SHAPE, { alphabet: LOWERCASE_ALPHABET }, { dtype: 'BF16' });
    for (const mode of ['bf16', 'int8', 'nf4']) {
      const { peak, out } = await loadInChild(dir, mode);
      expect(out).toMatchObject({ baseDtype: mode, placement: 'host' }); // 171M parameters: too many for resident f32
      const bound = out.heldBytes + LARGEST_F32 + 256 * 2 ** 20;
      console.log(
        `load ${mode}: checkpoint ${(fileBytes / 2 ** 20).toFixed(0)} MiB, held ${(out.heldBytes / 2 ** 20).toFixed(0)} MiB, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (bound ${(bound / 2 ** 20).toFixed(0)} MiB)`,
      );
      if (mode === 'bf16')
        expect(out.heldBytes).toBe(fileBytes - 2 * SHAPE.num_hidden_layers * SHAPE.hidden_size * 2 - SHAPE.hidden_size * 2); // all but the norms, 2 bytes a weight
      expect(peak).toBeLessThan(bound);
    }
  }, 600_000);
});
