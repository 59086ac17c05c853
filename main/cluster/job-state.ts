import { z } from 'zod';

/**
 * A SLURM job's state as squeue, sacct and `sacct -c` name it (Node-free: the studio shows it). SLURM has more states
 * than a user needs to tell apart; each maps to one of these, and anything unknown stays readable as UNKNOWN with
 * SLURM's own word in `reason`.
 */
export const JOB_STATES = [
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'REQUEUED',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'PREEMPTED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
  'UNKNOWN',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States after which the job does nothing more (a requeued job passes through PENDING again instead). */
export const TERMINAL_STATES: ReadonlySet<JobState> = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'PREEMPTED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'BOOT_FAIL',
  'DEADLINE',
]);

export function isTerminal(state: JobState): boolean {
  return TERMINAL_STATES.has(state);
}

/** Where a status came from: squeue knows live jobs; sacct the database; `sacct -c` the job-completion file. */
export const STATUS_SOURCES = ['squeue', 'sacct', 'sacct -c'] as const;

export const jobStatusSchema = z.object({
  jobId: z.string(),
  state: z.enum(JOB_STATES),
  /** Why a job waits (Priority, Resources, ...), or SLURM's word for a state we do not name. */
  reason: z.string().optional(),
  /** SLURM's `exit:signal`, e.g. `1:0`; known once the job ended. */
  exitCode: z.string().optional(),
  nodes: z.string().optional(),
  source: z.enum(STATUS_SOURCES),
});
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** SLURM's state word (`CANCELLED by 0`, `CD`, `OUT_OF_ME+`) as one of ours. */
export function normalizeState(word: string): { state: JobState; reason?: string } {
  const w = word.trim().split(/\s+/)[0]?.replace(/\+$/, '').toUpperCase() ?? '';
  const short: Record<string, JobState> = {
    PD: 'PENDING',
    CF: 'CONFIGURING',
    R: 'RUNNING',
    CG: 'COMPLETING',
    S: 'SUSPENDED',
    RQ: 'REQUEUED',
    CD: 'COMPLETED',
    F: 'FAILED',
    CA: 'CANCELLED',
    TO: 'TIMEOUT',
    PR: 'PREEMPTED',
    NF: 'NODE_FAIL',
    OOM: 'OUT_OF_MEMORY',
    BF: 'BOOT_FAIL',
    DL: 'DEADLINE',
  };
  if ((JOB_STATES as readonly string[]).includes(w)) return { state: w as JobState };
  if (w === 'OUT_OF_ME') return { state: 'OUT_OF_MEMORY' }; // sacct cuts long words to its column width
  if (short[w]) return { state: short[w] };
  // Requeue variants (REQUEUE_FED, REQUEUE_HOLD, RESV_DEL_HOLD, ...) and others: SLURM's own word is kept.
  if (w.startsWith('REQUEUE')) return { state: 'REQUEUED', reason: w };
  return { state: 'UNKNOWN', reason: w || undefined };
}
