import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import { makeAdapterConfig, peftKey, readPeftAdapter, writePeftAdapter, ADAPTER_WEIGHTS } from '../formats/peft-adapter.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { openSafetensors, writeSafetensors } from '../formats/safetensors.ts';
import type { LlamaConfig } from '../llama/config.ts';
import type { LoraAdapter } from '../model/lora.ts';
import type { AdamW } from './adamw.ts';
import type { TrainerPosition } from './trainer.ts';

import { OPTIMIZER_STATE, TRAINER_STATE, TRAINING_CONFIG } from './run-folder.ts';

export { TRAINER_STATE } from './run-folder.ts';

export interface TrainerStateFile {
  position: TrainerPosition;
  optimizerStep: number;
  seed: number;
  /** The example order of the current epoch, so a resume can check it sees the same data in the same order. */
  epochOrder: number[];
  /** SHA-256 of the data file the run trained on. */
  dataSha256: string;
}

/** Save the LoRA weights in PEFT's layout. */
export async function saveAdapter(dir: string, adapter: LoraAdapter, baseModel: string): Promise<void> {
  const s = adapter.settings;
  const config = makeAdapterConfig({
    baseModel,
    r: s.r,
    alpha: s.alpha,
    dropout: s.dropout,
    targetModules: s.targetModules,
    useRslora: s.useRslora,
  });
  await writePeftAdapter(dir, config, await adapter.exportPeft());
}

/** Write the adapter, the optimizer moments and the trainer state into a checkpoint folder. */
export async function fillCheckpoint(
  dir: string,
  adapter: LoraAdapter,
  optimizer: AdamW,
  state: TrainerStateFile,
  baseModel: string,
  config: unknown,
) {
  await saveAdapter(dir, adapter, baseModel);
  const tensors = [];
  for (let i = 0; i < optimizer.params.length; i++) {
    const shape = optimizer.params[i].shape;
    tensors.push({ name: `m.${String(i).padStart(5, '0')}`, dtype: 'F32' as const, shape, data: f32Bytes(await optimizer.m[i].data()) });
    tensors.push({ name: `v.${String(i).padStart(5, '0')}`, dtype: 'F32' as const, shape, data: f32Bytes(await optimizer.v[i].data()) });
  }
  await writeSafetensors(path.join(dir, OPTIMIZER_STATE), tensors, {
    metadata: { format: 'lora-studio-adamw', step: String(optimizer.step) },
  });
  await writeFile(path.join(dir, TRAINER_STATE), JSON.stringify(state, null, 2));
  await writeFile(path.join(dir, TRAINING_CONFIG), JSON.stringify(config, null, 2));
}

/** Read a checkpoint's trainer state, adapter weights (into `adapter`) and optimizer moments (into `optimizer`). */
export async function restoreCheckpoint(dir: string, base: LlamaConfig, adapter: LoraAdapter, optimizer: AdamW): Promise<TrainerStateFile> {
  let state: TrainerStateFile;
  try {
    const file = path.join(dir, TRAINER_STATE);
    state = (await readJsonFile(file, {
      maxBytes: JSON_FILE_LIMITS.config,
      what: TRAINER_STATE,
      code: 'checkpoint/state',
    })) as TrainerStateFile;
  } catch (e) {
    throw new StudioError(`cannot read ${TRAINER_STATE} (${(e as Error).message})`, dir, 'checkpoint/state');
  }
  const loaded = await readPeftAdapter(dir, base);
  // The run trains one rank and one scale on every layer of its targets; a checkpoint whose config says otherwise
  // (rank_pattern, alpha_pattern, layers_to_transform) cannot be continued by it, and is refused rather than bent.
  for (const saved of loaded.modules.values()) {
    if (!adapter.module(saved.layer, saved.name))
      throw new StudioError(
        `checkpoint adapts ${peftKey(saved.layer, saved.name)}, which this run does not train; were the target modules changed?`,
        dir,
        'checkpoint/adapter',
      );
  }
  for (const m of adapter.modules) {
    const saved = loaded.modules.get(`${m.layer}.${m.name}`);
    if (!saved)
      throw new StudioError(
        `checkpoint has no LoRA weights for ${m.key}; were the target modules changed (or its adapter_config.json's layers_to_transform)?`,
        dir,
        'checkpoint/adapter',
      );
    const [inF, r] = m.aT.shape;
    const [, outF] = m.bT.shape;
    if (saved.r !== r || saved.a.length !== r * inF || saved.b.length !== outF * r) {
      throw new StudioError(`checkpoint's ${m.key} has rank ${saved.r}, another rank than lora_r ${r}`, dir, 'checkpoint/adapter');
    }
    if (saved.scale !== m.scale) {
      throw new StudioError(
        `checkpoint's ${m.key} has LoRA scale ${saved.scale} (its adapter_config.json: lora_alpha, alpha_pattern, use_rslora), this run trains with ${m.scale}`,
        dir,
        'checkpoint/adapter',
      );
    }
    tf.tidy(() => {
      m.aT.assign(tf.transpose(tf.tensor2d(saved.a, [r, inF])) as tf.Tensor2D);
      m.bT.assign(tf.transpose(tf.tensor2d(saved.b, [outF, r])) as tf.Tensor2D);
    });
  }
  const file = await openSafetensors(path.join(dir, OPTIMIZER_STATE));
  try {
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (let i = 0; i < optimizer.params.length; i++) {
      m.push(await file.readF32(`m.${String(i).padStart(5, '0')}`));
      v.push(await file.readF32(`v.${String(i).padStart(5, '0')}`));
    }
    optimizer.load(state.optimizerStep, m, v);
  } finally {
    await file.close();
  }
  return state;
}

/**
 * Reopen a saved adapter and check it: the tensor count is 2 × targets × layers, every shape matches, and after
 * training B is no longer all zeros (the 443-byte empty adapter_model.bin failure; `whyUntrained` adds a known cause
 * to that message). Throws on any failure; returns
 * what was read back, for further checks.
 */
export async function verifySavedAdapter(dir: string, base: LlamaConfig, adapter: LoraAdapter, trained: boolean, whyUntrained = '') {
  const loaded = await readPeftAdapter(dir, base); // checks names, shapes, ranks and that no module is missing
  const expected = adapter.modules.length;
  if (loaded.modules.size !== expected) {
    throw new StudioError(
      `saved adapter holds ${2 * loaded.modules.size} tensors, expected ${2 * expected}`,
      path.join(dir, ADAPTER_WEIGHTS),
      'adapter/verify',
    );
  }
  if (trained && [...loaded.modules.values()].every((m) => m.b.every((x) => x === 0))) {
    throw new StudioError(
      `every lora_B is still zero after training: the adapter would do nothing${whyUntrained}`,
      path.join(dir, ADAPTER_WEIGHTS),
      'adapter/verify',
    );
  }
  for (const m of adapter.modules) {
    const saved = loaded.modules.get(`${m.layer}.${m.name}`)!;
    const aT = tf.transpose(m.aT);
    const a = await aT.data(); // not dataSync: tfjs-webgpu cannot read synchronously in Node
    aT.dispose();
    if (a.length !== saved.a.length || a.some((x, i) => x !== saved.a[i])) {
      throw new StudioError(`saved ${m.key}.lora_A differs from the trained weights`, path.join(dir, ADAPTER_WEIGHTS), 'adapter/verify');
    }
  }
  return loaded;
}

function f32Bytes(a: ArrayLike<number>): Uint8Array {
  const f = a instanceof Float32Array ? a : Float32Array.from(a);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}
