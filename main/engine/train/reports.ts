/** What the trainer tells its listeners (CLI progress bar, metrics.jsonl, the studio over IPC). */
export type TrainingEvent =
  | { type: 'start'; totalSteps: number; startStep: number; trainableParams: number; allParams: number; backend: string }
  | {
      type: 'step';
      step: number;
      totalSteps: number;
      epoch: number;
      loss: number;
      learningRate: number;
      gradNorm: number;
      tokensPerSecond: number;
      elapsedMs: number;
      etaMs: number;
      memory: MemoryReport;
      /** Since the last report: micro-batches with no token to train on, skipped (absent when none were). */
      skippedMicroBatches?: number;
      /** Since the last report: optimizer steps all of whose micro-batches were skipped (no update was made). */
      skippedSteps?: number;
    }
  /** A report point at which every step since the last report was skipped: no loss to report, only the count. */
  | {
      type: 'skipped';
      step: number;
      totalSteps: number;
      epoch: number;
      learningRate: number;
      elapsedMs: number;
      etaMs: number;
      skippedMicroBatches: number;
      skippedSteps: number;
    }
  | { type: 'eval'; step: number; epoch: number; evalLoss: number }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | {
      type: 'done';
      step: number;
      reason: 'finished' | 'max_steps' | 'early_stopping' | 'stopped';
      bestCheckpoint?: string;
      adapterDir: string;
    };

export interface MemoryReport {
  /** Resident set size of this process. */
  rssBytes: number;
  /** Bytes tfjs holds in tensors (the backend's memory for our weights and activations). */
  tensorBytes: number;
  numTensors: number;
  /** Bytes tfjs holds in GPU buffers (WebGPU backend only). */
  deviceBytes?: number;
}

export type TrainingListener = (event: TrainingEvent) => void;

/** `trainable params: X || all params: Y || trainable%: Z`, the line PEFT's print_trainable_parameters prints. */
export function trainableParamsLine(trainable: number, all: number): string {
  return `trainable params: ${trainable.toLocaleString('en-US')} || all params: ${all.toLocaleString('en-US')} || trainable%: ${((100 * trainable) / all).toFixed(4)}`;
}
