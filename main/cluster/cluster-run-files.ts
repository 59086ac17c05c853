import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../engine/errors.ts';
import { writeFileAtomic } from '../engine/fs/atomic-write.ts';
import { CLUSTER_LOGS, CLUSTER_RECORD, CLUSTER_SCRIPT, clusterRecordSchema, type ClusterRecord } from './cluster-record.ts';
import type { JobStatus } from './job-state.ts';

/** The cluster files of a local run folder (cluster-record.ts says what each holds). */
export function clusterPaths(runDir: string) {
  const dir = path.resolve(runDir);
  return {
    dir,
    record: path.join(dir, CLUSTER_RECORD),
    script: path.join(dir, CLUSTER_SCRIPT),
    logs: path.join(dir, CLUSTER_LOGS),
    logFile: (jobId: string, stream: 'stdout' | 'stderr') =>
      path.join(dir, CLUSTER_LOGS, `slurm-${jobId}.${stream === 'stdout' ? 'out' : 'err'}`),
  };
}

/** The run's cluster.json, checked; a clear error when the folder is not a cluster run. */
export function readClusterRecord(runDir: string): ClusterRecord {
  const file = clusterPaths(runDir).record;
  if (!existsSync(file))
    throw new StudioError(
      `no ${CLUSTER_RECORD}: not a cluster run (submit one with \`lora-studio cluster submit\`)`,
      path.resolve(runDir),
      'cluster/no-record',
    );
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StudioError(`not valid JSON (${(e as Error).message})`, file, 'cluster/record');
  }
  const r = clusterRecordSchema.safeParse(json);
  if (!r.success)
    throw new StudioError(`invalid: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, file, 'cluster/record');
  return r.data;
}

export async function writeClusterRecord(runDir: string, record: ClusterRecord): Promise<void> {
  await writeFileAtomic(clusterPaths(runDir).record, JSON.stringify(clusterRecordSchema.parse(record), null, 2) + '\n');
}

/** Add a state to the record when it differs from the last one seen; true when it did. */
export function noteState(record: ClusterRecord, status: JobStatus, now = new Date()): boolean {
  const last = record.states[record.states.length - 1];
  if (last && last.state === status.state && last.reason === status.reason && last.exitCode === status.exitCode) return false;
  record.states.push({ state: status.state, reason: status.reason, exitCode: status.exitCode, at: now.toISOString() });
  return true;
}
