import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SHAPE, writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { runMerge, runQuantize, runStateDict } from '../../main/engine/export/export-jobs.ts';
import { workFolder } from '../helpers/work-folder.ts';

let work: string;
let model: string;

describe('an export never overwrites and never writes into its input', () => {
  beforeAll(async () => {
    work = workFolder('export-guard');
    model = path.join(work, 'model');
    await writeSyntheticModel(model, DEMO_SHAPE, { alphabet: 'abcdefghijklmnopqrstuvwxyz ' });
  });

  it("quantize --output refuses the model's own files, any existing file, and an existing Modelfile of its name beside it", async () => {
    const weights = path.join(model, 'model.safetensors');
    const before = readFileSync(weights);
    await expect(runQuantize({ model, format: 'gguf-q8_0', output: weights })).rejects.toThrow(
      /--output is inside the base_model folder .*model; an export never writes into its input/,
    );
    await expect(runQuantize({ model, format: 'gguf-f32', output: path.join(model, 'new.gguf') })).rejects.toThrow(
      /inside the base_model folder/,
    );
    expect(Buffer.compare(readFileSync(weights), before)).toBe(0);
    expect(existsSync(path.join(model, 'model.Modelfile'))).toBe(false);

    const notes = path.join(work, 'notes.txt');
    writeFileSync(notes, 'keep me');
    await expect(runQuantize({ model, format: 'gguf-q8_0', output: notes })).rejects.toThrow(
      /notes\.txt: already exists; --output never overwrites a file/,
    );
    expect(readFileSync(notes, 'utf8')).toBe('keep me');

    const outDir = path.join(work, 'ollama');
    mkdirSync(outDir);
    writeFileSync(path.join(outDir, 'model.Modelfile'), 'FROM ./other.gguf\n');
    await expect(runQuantize({ model, format: 'gguf-q8_0', output: path.join(outDir, 'model.gguf') })).rejects.toThrow(
      /ollama\/model\.Modelfile: already exists/,
    );
    expect(readFileSync(path.join(outDir, 'model.Modelfile'), 'utf8')).toBe('FROM ./other.gguf\n');
    expect(existsSync(path.join(outDir, 'model.gguf'))).toBe(false);
  });

  it('merge, state dict and int8 refuse an output inside the model or adapter folder, or a file as output_dir', async () => {
    const adapter = path.join(work, 'adapter');
    mkdirSync(adapter);
    await expect(runMerge({ base_model: model, lora_weights: adapter, output_dir: path.join(model, 'merged') })).rejects.toThrow(
      /--output_dir is inside the base_model folder/,
    );
    await expect(runMerge({ base_model: model, lora_weights: adapter, output_dir: path.join(adapter, 'merged') })).rejects.toThrow(
      /--output_dir is inside the lora_weights folder/,
    );
    await expect(runQuantize({ base_model: model, lora_weights: adapter, format: 'int8', output: adapter })).rejects.toThrow(
      /--output is inside the lora_weights folder/,
    );
    const file = path.join(work, 'a-file');
    writeFileSync(file, '');
    await expect(runStateDict({ base_model: model, output_dir: file })).rejects.toThrow(/a-file: --output_dir is a file, not a folder/);
    await expect(runStateDict({ base_model: model, output_dir: '/proc/x' })).rejects.toThrow(/\/proc is on the kernel's proc file system/);
  });

  it('two quantizations of one model go into one folder, each with a Modelfile named after its GGUF; a real overwrite stays refused', async () => {
    const dir = path.join(work, 'ollama-models');
    const q8 = await runQuantize({ model, format: 'gguf-q8_0', output: path.join(dir, 'model-Q8_0.gguf') });
    const f16 = await runQuantize({ model, format: 'gguf-f16', output: path.join(dir, 'model-F16.gguf') });
    expect(readdirSync(dir).sort()).toEqual([
      'model-F16.Modelfile',
      'model-F16.gguf',
      'model-F16.gguf.verification.json',
      'model-Q8_0.Modelfile',
      'model-Q8_0.gguf',
      'model-Q8_0.gguf.verification.json',
    ]);
    // Each Modelfile loads its own GGUF; the summary tells the user which file to give `ollama create -f`.
    expect(readFileSync(path.join(dir, 'model-Q8_0.Modelfile'), 'utf8')).toMatch(/^FROM \.\/model-Q8_0\.gguf\n/);
    expect(readFileSync(path.join(dir, 'model-F16.Modelfile'), 'utf8')).toMatch(/^FROM \.\/model-F16\.gguf\n/);
    expect(q8.summary).toContain(`-f ${path.join(dir, 'model-Q8_0.Modelfile')}`);
    expect(f16.report.modelfile).toBe(path.join(dir, 'model-F16.Modelfile'));
    const before = readFileSync(path.join(dir, 'model-Q8_0.gguf'));
    await expect(runQuantize({ model, format: 'gguf-f32', output: path.join(dir, 'model-Q8_0.gguf') })).rejects.toMatchObject({
      code: 'export/exists',
      message: expect.stringMatching(/model-Q8_0\.gguf: already exists; --output never overwrites a file/),
    });
    expect(Buffer.compare(readFileSync(path.join(dir, 'model-Q8_0.gguf')), before)).toBe(0);
    expect(readdirSync(dir)).toHaveLength(6);
  }, 120_000);

  it('writes to a new path as before', async () => {
    const out = path.join(work, 'int8');
    const r = await runQuantize({ model, format: 'int8', output: out });
    expect(r.output).toBe(out);
    expect(existsSync(path.join(out, 'verification.json'))).toBe(true);
  });
});
