import { isTerminal, type JobState } from '../../../main/contract/contract.ts';
import type { RunState } from '../job-view.ts';

/** A SLURM job's state as the Run page's run state: waiting is queued, any live state running, each end its own. */
export function runStateOfCluster(state: JobState): RunState {
  if (state === 'PENDING' || state === 'REQUEUED') return 'queued';
  if (!isTerminal(state)) return 'running';
  if (state === 'COMPLETED') return 'done';
  if (state === 'CANCELLED') return 'stopped';
  return 'failed';
}
