import { existsSync } from 'node:fs';
import { clusterPaths } from '../cluster/cluster-run-files.ts';
import type { JobEvent } from '../contract/contract.ts';
import { openRegularFile, withReadTimeout } from '../engine/fs/regular-file.ts';

/** How much of the end of each of the job's outputs a cluster run's history shows (the whole is in cluster-logs/). */
const LOG_TAIL_BYTES = 64 * 1024;

async function tailOf(file: string): Promise<string[]> {
  if (!existsSync(file)) return [];
  const { handle, size } = await openRegularFile(file);
  try {
    const from = Math.max(0, size - LOG_TAIL_BYTES);
    const buf = Buffer.alloc(size - from);
    await withReadTimeout(handle.read(buf, 0, buf.length, from), file);
    const lines = buf.toString('utf8').split('\n');
    if (from > 0) lines.shift(); // a line cut by the tail's start
    return lines.filter((l) => l.trim());
  } finally {
    await handle.close();
  }
}

/**
 * The end of a cluster job's stdout and stderr as copied into the run folder (cluster-logs/), as the log lines its
 * follow job sent live (stdout info, stderr warnings): a page opened later, or after a reload, shows what the job said.
 */
export async function clusterLogHistory(runDir: string, slurmJobId: string | undefined, jobId: string): Promise<JobEvent[]> {
  if (!slurmJobId) return [];
  const files = clusterPaths(runDir);
  const events: JobEvent[] = [];
  for (const [stream, level] of [
    ['stdout', 'info'],
    ['stderr', 'warn'],
  ] as const) {
    try {
      for (const message of await tailOf(files.logFile(slurmJobId, stream))) events.push({ jobId, type: 'log', level, message });
    } catch {
      // an unreadable copy: the run's own history still shows
    }
  }
  return events;
}
