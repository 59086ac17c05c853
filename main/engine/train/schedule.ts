/**
 * transformers' get_linear_schedule_with_warmup: the multiplier for the optimizer step that has `step` steps
 * before it (0-based), so the very first update runs at lr 0 exactly as the HF Trainer does.
 */
export function linearWarmupDecay(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}
