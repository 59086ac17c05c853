import { z } from 'zod';
import type { ClusterRecord } from '../cluster/cluster-record.ts';
import { clusterConnectionSchema, clusterProfileSchema, slurmJobSchema } from '../cluster/cluster-settings.ts';
import { isTerminal, JOB_STATES, type JobState } from '../cluster/job-state.ts';

/**
 * A cluster run as the studio sees it (Node-free: the contract and the renderer use it). The schemas are
 * main/cluster's own (the CLI's flags are made from the same ones); this file adds what the pages need: the run's
 * cluster facts out of its cluster.json, the job settings of a `cluster` job, and how SLURM's states read as a run's.
 */
export { clusterProfileSchema, JOB_STATES, isTerminal, type JobState };
export type { ClusterProfile } from '../cluster/cluster-settings.ts';

/** Where a cluster run's job is and how it stands: cluster.json as the pages show it. */
export const clusterRunInfoSchema = z.object({
  /** `local` or `ssh://user@host:port` */
  cluster: z.string(),
  /** SLURM's job id, once sbatch accepted the job. */
  jobId: z.string().optional(),
  remoteDir: z.string(),
  /** The last state seen (absent until the first poll). */
  state: z.enum(JOB_STATES).optional(),
  /** Why a job waits (Priority, Resources, ...) or SLURM's word for a state it has no name of ours for. */
  reason: z.string().optional(),
  exitCode: z.string().optional(),
  /** One line: why the job did not complete. */
  failure: z.string().optional(),
  submittedAt: z.string().optional(),
  /** What was brought home, and when. */
  fetched: z.object({ at: z.string(), adapter: z.boolean(), checkpoints: z.array(z.string()) }).optional(),
});
export type ClusterRunInfo = z.infer<typeof clusterRunInfoSchema>;

export function clusterRunInfo(record: ClusterRecord): ClusterRunInfo {
  const last = record.states.at(-1);
  return {
    cluster: record.cluster,
    jobId: record.job_id,
    remoteDir: record.remote_dir,
    ...(last ? { state: last.state, reason: last.reason, exitCode: last.exitCode } : {}),
    failure: record.failure,
    submittedAt: record.submitted_at,
    fetched: record.fetched,
  };
}

/** A run summary's status for a cluster run, by its job's state (a job not seen yet counts as running: it is queued). */
export function clusterRunStatus(state: JobState | undefined): 'running' | 'finished' | 'stopped' | 'failed' {
  if (state === undefined || !isTerminal(state)) return 'running';
  if (state === 'COMPLETED') return 'finished';
  if (state === 'CANCELLED') return 'stopped';
  return 'failed';
}

/** What the studio asks of SLURM and where: a profile's settings without its name (submit's flags, less dry_run/wait). */
export const clusterTargetSettingsSchema = clusterConnectionSchema.extend(slurmJobSchema.shape).strict();

/**
 * A `cluster` job: submit a run (then follow it, and fetch it once it completed), follow a submitted one again (the
 * studio reopened), cancel it (scancel), or fetch what it has written so far. `output_dir` is the local run folder.
 */
export const clusterJobSettingsSchema = (finetune: z.ZodType) =>
  z.discriminatedUnion('action', [
    z.object({ action: z.literal('submit'), settings: finetune, cluster: clusterTargetSettingsSchema }).strict(),
    z.object({ action: z.enum(['follow', 'cancel', 'fetch']), output_dir: z.string().min(1) }).strict(),
  ]);
