import type { BackendInfo } from '../backend/index.ts';
import { startBackend, type StartedBackend } from '../backend/start-backend.ts';
import { currentAdapter } from '../backend/webgpu.ts';
import type { MatmulPath } from '../backend/webgpu-matmul-path.ts';
import { EpochBatches, PAD_MULTIPLE, sequentialBatches } from '../data/batches.ts';
import { Prng } from '../data/prng.ts';
import { StudioError } from '../errors.ts';
import type { BaseDtype } from '../llama/base-dtype-names.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import { useGradientCheckpointing } from '../llama/gradient-checkpointing.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { checkLoraRank } from '../llama/projections.ts';
import type { LlamaModel } from '../model/llama.ts';
import { loadModel } from '../model/load.ts';
import { LoraAdapter, checkTargets } from '../model/lora.ts';
import { kaimingUniformInit } from '../model/lora-init.ts';
import { deviceRefusal, estimateTrainingMemory, webgpuDeviceLimits } from '../system/memory-estimate.ts';
import { AdamW, ADAMW_DEFAULTS } from './adamw.ts';
import type { FinetuneConfig } from './config.ts';
import type { PreparedData } from './prepare-data.ts';
import { stepLimit } from './run-plan.ts';
import type { TrainerData, TrainerSchedule } from './trainer.ts';

type Log = (message: string, level?: 'info' | 'warn') => void;

/** Everything the training loop needs, made as a run makes it (finetune, and the measured steps of the wizard). */
interface PreparedTraining {
  backend: BackendInfo;
  matmul: MatmulPath;
  model: LlamaModel;
  modelConfig: LlamaConfig;
  baseDtype: BaseDtype;
  checkpointing: boolean;
  batches: EpochBatches;
  trainerData: TrainerData;
  schedule: TrainerSchedule;
  adapter: LoraAdapter;
  optimizer: AdamW;
}

/** Start the backend the settings ask for (a stalled start ends here, with its reason) and choose the matmul path. */
export function startTrainingBackend(config: FinetuneConfig, log: Log): Promise<StartedBackend> {
  return startBackend(config.backend, { threads: config.threads }, (line) => log(line));
}

/**
 * Load the base as the settings ask, and make the batches, the schedule, a fresh LoRA adapter and its optimizer, on a
 * started backend. Nothing is written: the caller owns the run folder.
 */
export async function prepareTraining(
  config: FinetuneConfig,
  data: PreparedData,
  { backend, matmul }: StartedBackend,
  log: Log,
): Promise<PreparedTraining> {
  const targets = checkTargets(config.lora_target_modules);
  // Before any weight is loaded: an absurd rank would otherwise fail deep in an allocation.
  checkLoraRank(await loadLlamaConfig(config.base_model), config.lora_r, targets);
  if (config.frozen_dtype !== undefined) log('note: frozen_dtype is deprecated; it is read as base_dtype (use --base_dtype)', 'warn');
  // The estimate at cutoff_len (the longest a batch can be) decides auto's mode, or refuses, before any weight is read.
  const workload = {
    microBatchSize: config.micro_batch_size,
    cutoffLen: config.cutoff_len,
    loraR: config.lora_r,
    targetModules: targets,
    gradientCheckpointing: config.gradient_checkpointing,
  };
  const loaded = await loadModel(config.base_model, { baseDtype: config.base_dtype, workload });
  const { model, config: modelConfig, baseDtype, placement } = loaded;
  log(
    `frozen base held as ${baseDtype}${cpuGemm() ? ', as stored, in the memory of the CPU kernels' : placement === 'host' ? ' in JS memory, each matrix dequantized just in time' : ''}: ${loaded.baseDtypeWhy}`,
  );
  for (const w of loaded.warnings) log(w, 'warn');
  const checkpointing = useGradientCheckpointing(config.gradient_checkpointing, baseDtype, placement);
  if (checkpointing)
    log(
      `gradient checkpointing on${config.gradient_checkpointing === undefined ? ` (auto: ${placement === 'host' ? 'a base held in JS memory' : `a ${baseDtype} base`})` : ''}: each layer is recomputed in the backward pass`,
    );
  for (const n of data.notes) log(n.message, n.level);

  if (backend.name === 'webgpu')
    await refuseIfDeviceTooSmall(config, modelConfig, targets, [...data.trainExamples, ...data.valExamples], baseDtype, log);

  const accumulation = config.batch_size / config.micro_batch_size;
  const batches = new EpochBatches(data.trainExamples, config.micro_batch_size, config.seed, config.group_by_length);
  const trainerData = {
    microBatchesPerEpoch: batches.microBatchesPerEpoch,
    microBatch: (epoch: number, index: number) => batches.microBatch(epoch, index),
    validation: sequentialBatches(data.valExamples, config.micro_batch_size),
  };
  const schedule: TrainerSchedule = {
    learningRate: config.learning_rate,
    warmupSteps: config.warmup_steps,
    gradientAccumulation: accumulation,
    // Fractional epochs (num_epochs 0.5) become a step limit, as the HF Trainer does.
    numEpochs: Math.ceil(config.num_epochs),
    maxSteps: stepLimit(batches.microBatchesPerEpoch, accumulation, config.num_epochs, config.max_steps),
    maxGradNorm: config.max_grad_norm,
    loggingSteps: config.logging_steps,
    evalSteps: config.eval_steps,
    saveSteps: config.save_steps,
    earlyStoppingPatience: config.early_stopping_patience,
    seed: config.seed,
    gradientCheckpointing: checkpointing,
  };
  const settings = {
    r: config.lora_r,
    alpha: config.lora_alpha,
    dropout: config.lora_dropout,
    targetModules: targets,
    useRslora: config.use_rslora,
  };
  const prng = new Prng(config.seed);
  const adapter = new LoraAdapter(
    modelConfig,
    settings,
    kaimingUniformInit(() => prng.next(), config.lora_r),
  );
  const optimizer = new AdamW(adapter.variables, { ...ADAMW_DEFAULTS, weightDecay: config.weight_decay });
  return { backend, matmul, model, modelConfig, baseDtype, checkpointing, batches, trainerData, schedule, adapter, optimizer };
}

/**
 * On WebGPU, refuse before the first step when the estimate exceeds the device memory (when known) or one tensor would
 * exceed the adapter's binding limit: the device would fail mid-step with a bare allocation error instead.
 */
async function refuseIfDeviceTooSmall(
  config: FinetuneConfig,
  modelConfig: LlamaConfig,
  targets: ReturnType<typeof checkTargets>,
  examples: { inputIds: ArrayLike<number> }[],
  baseDtype: BaseDtype,
  log: Log,
) {
  const adapter = currentAdapter();
  if (!adapter) return;
  const device = await webgpuDeviceLimits(adapter);
  // The longest batch collate can make: the longest example, padded to PAD_MULTIPLE, at most cutoff_len.
  const longest = examples.reduce((m, e) => Math.max(m, e.inputIds.length), 1);
  const seqLen = Math.min(config.cutoff_len, Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE);
  const est = estimateTrainingMemory(modelConfig, {
    microBatchSize: config.micro_batch_size,
    cutoffLen: seqLen,
    loraR: config.lora_r,
    targetModules: targets,
    gradientCheckpointing: config.gradient_checkpointing,
    baseDtype,
    backendName: 'webgpu',
  });
  const refusal = deviceRefusal(est, device, { microBatchSize: config.micro_batch_size, cutoffLen: config.cutoff_len });
  if (refusal) throw new StudioError(refusal, config.base_model, 'train/device-memory');
  const mem =
    device.totalBytes === null
      ? `device memory ${device.memorySource}`
      : `${(device.totalBytes / 2 ** 30).toFixed(1)} GiB device memory (${device.memorySource})`;
  log(
    `WebGPU device ${device.name}: ${mem}; estimated ${(est.totalBytes / 2 ** 30).toFixed(2)} GiB for training, largest tensor ${(est.largestTensor.bytes / 2 ** 20).toFixed(1)} MiB of ${(device.maxBindingBytes / 2 ** 20).toFixed(0)} MiB allowed`,
  );
}
