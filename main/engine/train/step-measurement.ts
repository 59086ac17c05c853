import { z } from 'zod';

/**
 * The timing of a run's first steps (measure-steps.ts makes it) and the whole run's duration estimated from it.
 * Node-free: the contract and the wizard read it.
 */
export const stepMeasurementSchema = z.object({
  /** Optimizer steps measured (3, or all of a shorter run). */
  measuredSteps: z.number(),
  /** Loading the data and the model, and preparing the batches. */
  loadMs: z.number(),
  /** The first step (it also warms the backend: kernels compiled, buffers made). */
  firstStepMs: z.number(),
  /** The mean of the steps after the first (the first again when only one was measured). */
  stepMs: z.number(),
  /** One validation pass over every validation micro-batch (0 without validation rows). */
  evalPassMs: z.number(),
  totalSteps: z.number(),
  evaluations: z.number(),
  /**
   * Start to end: loading, the first step, the other steps at the measured pace per padded token times the tokens each
   * will hold, and the validation passes.
   */
  estimatedMs: z.number(),
  backend: z.string(),
});
export type StepMeasurement = z.infer<typeof stepMeasurementSchema>;
