import { z } from 'zod';
import { slurmJobSchema } from './cluster-settings.ts';
import { JOB_STATES } from './job-state.ts';

/**
 * What the local run folder of a cluster run holds besides the run's own files (Node-free: the studio reads it):
 *
 *   cluster.json          where the job is (cluster, job id, remote folder) and every state seen, so any process
 *                         (the CLI later, the studio reopened, after a dropped connection) finds the job again
 *   cluster-job.sbatch    the batch script, as submitted
 *   cluster-logs/         SLURM's stdout and stderr of the job, followed from where they stopped
 *
 * metrics.jsonl is the remote one, copied as it grows, so every reader of local runs draws a cluster run's curves;
 * checkpoints/ and adapter/ arrive by fetch, each verified before it is put in place.
 */
export const CLUSTER_RECORD = 'cluster.json';
export const CLUSTER_SCRIPT = 'cluster-job.sbatch';
export const CLUSTER_LOGS = 'cluster-logs';

export const stateSeenSchema = z.object({
  state: z.enum(JOB_STATES),
  reason: z.string().optional(),
  exitCode: z.string().optional(),
  at: z.string(),
});
export type StateSeen = z.infer<typeof stateSeenSchema>;

export const clusterRecordSchema = z.object({
  format: z.literal('lora-studio-cluster-run'),
  version: z.literal(1),
  /** `local` or `ssh://user@host:port` */
  cluster: z.string(),
  ssh_config: z.string().optional(),
  /** The run's own folder on the cluster (absolute). */
  remote_dir: z.string(),
  /** Set once sbatch accepted the job. */
  job_id: z.string().optional(),
  submitted_at: z.string().optional(),
  job: slurmJobSchema,
  /** The base model folder on the cluster. */
  base_model: z.string(),
  /** The base's config.json (from the bundle), to check a fetched adapter's tensors against. */
  base_config: z.record(z.string(), z.unknown()).optional(),
  states: z.array(stateSeenSchema).default([]),
  /** One line: why the job did not complete (SLURM's state, exit code, the tail of its stderr). */
  failure: z.string().optional(),
  fetched: z.object({ at: z.string(), adapter: z.boolean(), checkpoints: z.array(z.string()) }).optional(),
});
export type ClusterRecord = z.infer<typeof clusterRecordSchema>;
