import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EpochBatches } from '../../main/engine/data/batches.ts';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { BUNDLE_FILE, PREPARED_FILE, bundlePlan, prepareRunBundle } from '../../main/engine/train/prepared-run.ts';
import { prepareTrainingData } from '../../main/engine/train/prepare-data.ts';
import { tinyAlpacaRows, tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

// The cluster's bundle holds what the local trainer would train on, to the token: the same functions make both.
const tmp = (name: string) => workFolder(`bundle-${name}`);
let model: string;
let data: string;
const settings = (extra: Record<string, unknown> = {}) => ({
  base_model: model,
  data_path: data,
  prompt_template_name: 'alpaca_short',
  batch_size: 8,
  micro_batch_size: 2,
  cutoff_len: 96,
  val_set_size: 6,
  num_epochs: 2.5, // three epochs' orders, a step limit inside the third
  train_on_inputs: false,
  group_by_length: true, // the order depends on micro_batch_size then
  ...extra,
});

async function ints(file: string, name: string): Promise<number[]> {
  const f = await openSafetensors(file);
  try {
    const info = f.info(name);
    const raw = await f.readRaw(name);
    const bytes = raw.slice(); // aligned copy
    const values = info.dtype === 'I64' ? [...new BigInt64Array(bytes.buffer)].map(Number) : [...new Int32Array(bytes.buffer)];
    return values;
  } finally {
    await f.close();
  }
}

describe('prepareRunBundle', () => {
  beforeAll(async () => {
    model = await tinyModel();
    data = path.join(tmp('data'), 'alpaca.json');
    writeFileSync(data, JSON.stringify(tinyAlpacaRows(50)));
  });

  it('writes the examples, masks, epoch orders and plan the local trainer makes from the same settings', async () => {
    const dir = path.join(tmp('out'), 'bundle');
    const summary = await prepareRunBundle(settings(), dir);
    const config = parseFinetuneConfig(settings());
    const local = await prepareTrainingData(config);
    const plan = bundlePlan(config, local.trainExamples.length);

    const bundle = JSON.parse(readFileSync(path.join(dir, BUNDLE_FILE), 'utf8'));
    expect(bundle.config).toEqual(config);
    expect(bundle.plan).toMatchObject({
      batch_size: 8,
      micro_batch_size: 2,
      gradient_accumulation: 4,
      epochs: 3,
      total_steps: plan.totalSteps,
    });
    expect(plan.totalSteps).toBe(15); // 22 micro-batches an epoch, 4 a step: 6 steps (the last partial) × 2.5 epochs
    expect(bundle.data).toMatchObject({
      train_examples: 44,
      validation_examples: 6,
      data_sha256: local.dataSha256,
      pad_id: 0,
      pad_multiple: 8,
    });
    expect(summary).toMatchObject({ trainRows: 44, validationRows: 6, totalSteps: plan.totalSteps });
    expect(summary.trainedTokensPerEpoch).toBe(local.stats.lossTokens);

    const file = path.join(dir, PREPARED_FILE);
    const bytes = readFileSync(file);
    expect(bundle.files[PREPARED_FILE]).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    for (const [split, examples] of [
      ['train', local.trainExamples],
      ['validation', local.valExamples],
    ] as const) {
      expect(await ints(file, `${split}.input_ids`)).toEqual(examples.flatMap((e) => e.inputIds));
      expect(await ints(file, `${split}.labels`)).toEqual(examples.flatMap((e) => e.labels));
      const offsets = await ints(file, `${split}.offsets`);
      expect(offsets.slice(1).map((o, i) => o - offsets[i])).toEqual(examples.map((e) => e.inputIds.length));
    }
    const batches = new EpochBatches(local.trainExamples, 2, config.seed, true);
    expect(await ints(file, 'epoch_order')).toEqual([0, 1, 2].flatMap((e) => batches.orderOf(e)));
    // the masks are there: the prompt is not trained on
    expect((await ints(file, 'train.labels')).filter((l) => l === -100).length).toBeGreaterThan(0);
  });

  it('refuses what finetune refuses, naming the setting, and leaves no folder behind', async () => {
    const out = tmp('bad');
    await expect(prepareRunBundle(settings({ batch_size: 5 }), path.join(out, 'a'))).rejects.toThrow(
      /batch_size \(5\) must be a multiple of micro_batch_size \(2\)/,
    );
    await expect(prepareRunBundle(settings({ cutoff_len: 100_000 }), path.join(out, 'b'))).rejects.toThrow(
      /cutoff_len 100000 is above the model's context/,
    );
    await expect(prepareRunBundle(settings({ data_path: path.join(out, 'none.json') }), path.join(out, 'c'))).rejects.toThrow(
      /cannot read data file/,
    );
    await expect(prepareRunBundle(settings({ val_set_size: 50 }), path.join(out, 'd'))).rejects.toThrow(
      /val_set_size \(50\) must be smaller/,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it('will not write into a folder that holds something', async () => {
    const dir = tmp('full');
    writeFileSync(path.join(dir, 'keep.txt'), 'mine');
    await expect(prepareRunBundle(settings(), dir)).rejects.toThrow(/not empty/);
    expect(existsSync(path.join(dir, BUNDLE_FILE))).toBe(false);
  });
});
