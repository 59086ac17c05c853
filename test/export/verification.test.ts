import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { refuseNonFiniteErrors } from '../../main/engine/export/encoded-finite.ts';
import { exportLlamaGguf } from '../../main/engine/export/gguf-llama.ts';
import { verifyGguf } from '../../main/engine/export/gguf-verify.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The verification itself fails on what the readers upstream now refuse, should anything slip past them: a GGUF whose
 * weights are NaN (written here past the exporter, into the file's bytes) fails llama.cpp's check instead of passing
 * with an empty answer, and a non-finite error figure fails every export's report.
 */

describe("an export's verification fails on non-finite results", () => {
  it('a GGUF with NaN weights fails the llama.cpp check (no empty answer passes)', async () => {
    const dir = workFolder('verify-nan');
    const model = await tinyModel();
    const file = path.join(dir, 'm.gguf');
    const input = await openExportInput(model);
    const report = await exportLlamaGguf(input.source, input.config, model, file, { fileType: 'f32' });
    await input.source.close();
    // (The same check passes every good GGUF: test/export/export-bytes.test.ts and gguf-export.test.ts.)
    const gguf = await readGguf(file);
    const norm = gguf.tensors.find((t) => t.name === 'output_norm.weight')!;
    const fd = openSync(file, 'r+');
    const nan = Buffer.alloc(norm.bytes);
    for (let i = 0; i < norm.bytes; i += 4) nan.writeFloatLE(NaN, i);
    writeSync(fd, nan, 0, nan.length, gguf.dataOffset + norm.offset);
    closeSync(fd);
    await expect(verifyGguf(file, report.tensors.length)).rejects.toMatchObject({
      code: 'export/llama-cpp',
      message: expect.stringMatching(/generated nothing|probabilities after BOS sum to NaN|could not load or run it/),
    });
  }, 400_000);

  it('a NaN or Inf error figure fails the report, naming the tensor', () => {
    expect(() => refuseNonFiniteErrors([{ name: 'blk.0.attn_q.weight', max: 0.01, mean: 0.001 }], 'x.gguf')).not.toThrow();
    expect(() => refuseNonFiniteErrors([{ name: 'blk.0.attn_q.weight', max: NaN, mean: NaN }], 'x.gguf')).toThrow(
      'x.gguf: verification failed: tensor blk.0.attn_q.weight has a quantization error of NaN (mean NaN), not a finite number',
    );
    expect(() => refuseNonFiniteErrors([{ name: 'w', max: Infinity }], 'out')).toThrow(/tensor w has a quantization error of Infinity/);
  });
});
