import { StudioError } from '../engine/errors.ts';
import { isTerminal, normalizeState, type JobStatus } from './job-state.ts';
import { lastLine } from './process.ts';
import { shellLine, shellQuote } from './shell-quote.ts';
import { ClusterCommandError, execText, type Transport } from './transport.ts';

/** SLURM's client commands, as the studio uses them: the pre-flight, sbatch, squeue/sacct/`sacct -c`, scancel. */

export const SLURM_TOOLS = ['sbatch', 'squeue', 'sacct', 'scancel', 'scontrol', 'sinfo'] as const;

export interface ClusterFacts {
  /** The home folder on the login node (relative remote paths are under it). */
  home: string;
  /** Where each tool is, or undefined when it is not on the PATH there. */
  tools: Record<string, string | undefined>;
  partitions: string[];
  defaultPartition?: string;
}

const PREFLIGHT = [
  `printf 'home\\t%s\\n' "$HOME"`,
  `for c in ${SLURM_TOOLS.join(' ')} tar sha256sum shasum; do printf 'tool\\t%s\\t%s\\n' "$c" "$(command -v "$c" 2>/dev/null)"; done`,
  `if command -v sinfo >/dev/null 2>&1; then parts=$(sinfo -h -o '%P' 2>&1); printf 'sinfo\\t%s\\n' "$?"; printf '%s\\n' "$parts" | sed 's/^/partition\\t/'; fi`,
].join('; ');

/**
 * What the cluster offers, read before anything is staged (one command, reading only): the home folder, SLURM's
 * commands, the partitions. A missing sbatch, a controller that does not answer, or a partition that does not exist
 * ends here in one line.
 */
export async function preflight(t: Transport, want: { partition?: string }): Promise<ClusterFacts> {
  const out = await execText(t, PREFLIGHT, 'reading the cluster (home folder, SLURM commands, partitions)', 60_000);
  const facts: ClusterFacts = { home: '', tools: {}, partitions: [] };
  let sinfoCode: number | undefined;
  const sinfoLines: string[] = [];
  for (const line of out.split('\n')) {
    const [kind, a, b] = line.split('\t');
    if (kind === 'home') facts.home = a ?? '';
    else if (kind === 'tool' && a) facts.tools[a] = b || undefined;
    else if (kind === 'sinfo') sinfoCode = Number(a);
    else if (kind === 'partition' && a) sinfoLines.push(a.trim());
  }
  if (!facts.home.startsWith('/')) throw new ClusterCommandError(`${t.label}: could not read the home folder there (got "${facts.home}")`);
  const missing = SLURM_TOOLS.filter((c) => c !== 'sacct' && !facts.tools[c]);
  if (missing.length)
    throw new ClusterCommandError(
      `${t.label}: no ${missing.join(', ')} on the PATH there: SLURM's commands must be found by a non-interactive shell ` +
        `(check \`command -v sbatch\` there; a login node that loads them through modules needs them in ~/.bashrc)`,
      'cluster/no-slurm',
    );
  if (sinfoCode !== 0)
    throw new ClusterCommandError(
      `${t.label}: SLURM does not answer (sinfo: ${sinfoLines[sinfoLines.length - 1] ?? 'no output'})`,
      'cluster/no-controller',
    );
  for (const p of sinfoLines) {
    const name = p.replace(/\*$/, '');
    if (!facts.partitions.includes(name)) facts.partitions.push(name);
    if (p.endsWith('*')) facts.defaultPartition = name;
  }
  if (want.partition !== undefined && !facts.partitions.includes(want.partition))
    throw new ClusterCommandError(
      `${t.label}: partition "${want.partition}" does not exist (partitions there: ${facts.partitions.join(', ') || 'none'})`,
      'cluster/no-partition',
    );
  return facts;
}

const JOB_ID = /^\d+$/;

function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new StudioError(`"${jobId}" is not a SLURM job id`, undefined, 'cluster/job-id');
}

/** `sbatch --parsable SCRIPT` → the job id; sbatch's refusal as one line. */
export async function submitBatch(t: Transport, script: string): Promise<string> {
  const r = await t.exec(shellLine(['sbatch', '--parsable', '--', script]), { timeoutMs: 120_000 });
  const out = r.stdout.toString('utf8').trim();
  if (r.code !== 0)
    throw new ClusterCommandError(`sbatch refused the job on ${t.label}: ${lastLine(r.stderr) || `exit ${r.code}`}`, 'cluster/sbatch');
  const jobId = lastLine(out).split(';')[0];
  if (!JOB_ID.test(jobId)) throw new ClusterCommandError(`sbatch on ${t.label} answered "${out}", not a job id`, 'cluster/sbatch');
  return jobId;
}

/** `scancel JOB`. */
export async function cancelJob(t: Transport, jobId: string): Promise<void> {
  checkJobId(jobId);
  await execText(t, shellLine(['scancel', '--', jobId]), `scancel ${jobId}`);
}

/** Remembers, per transport, that plain sacct has no database there (so each poll asks `sacct -c` at once). */
export interface StatusMemory {
  sacctUnavailable?: boolean;
}

/**
 * The job's state: squeue while SLURM holds the job (PENDING with its reason, RUNNING, and finished jobs for
 * MinJobAge); then sacct (accounting database), falling back to `sacct -c` (the job-completion file) where the site
 * has no database. Finished states come with their exit code from sacct. Undefined when no source knows the job.
 */
export async function queryJob(t: Transport, jobId: string, memory: StatusMemory = {}): Promise<JobStatus | undefined> {
  checkJobId(jobId);
  const q = await t.exec(`squeue -h -t all -j ${shellQuote(jobId)} -o '%i|%T|%r|%N'`, { timeoutMs: 60_000 });
  // squeue exits non-zero for a job it no longer knows ("Invalid job id specified"): that is an answer, not a fault.
  const row = parseRows(q.stdout.toString('utf8'), jobId)[0];
  let fromQueue: JobStatus | undefined;
  if (row) {
    const { state, reason } = normalizeState(row[1]);
    fromQueue = { jobId, state, reason: nonEmptyReason(row[2]) ?? reason, nodes: nonEmpty(row[3]), source: 'squeue' };
    if (!isTerminal(state)) return fromQueue;
  } else if (q.code !== 0 && !/Invalid job id/i.test(q.stderr)) {
    throw new ClusterCommandError(`squeue on ${t.label} failed: ${lastLine(q.stderr) || `exit ${q.code}`}`, 'cluster/squeue');
  }
  // The job ended (or left squeue): the accounting record has its exit code.
  const fields = 'JobID,State,ExitCode,NodeList';
  if (!memory.sacctUnavailable) {
    const a = await t.exec(`sacct -X -n -P -j ${shellQuote(jobId)} -o ${fields}`, { timeoutMs: 60_000 });
    const rows = parseRows(a.stdout.toString('utf8'), jobId);
    if (a.code === 0 && rows.length) return accountingStatus(jobId, rows[rows.length - 1], 'sacct', fromQueue);
    if (a.code !== 0) memory.sacctUnavailable = true; // "accounting storage is disabled": no database at this site
  }
  const c = await t.exec(`sacct -c -n -P -j ${shellQuote(jobId)} -o ${fields}`, { timeoutMs: 60_000 });
  const rows = parseRows(c.stdout.toString('utf8'), jobId);
  // The completion file has one record per end of the job (a requeued job ended more than once): the last counts.
  if (c.code === 0 && rows.length) return accountingStatus(jobId, rows[rows.length - 1], 'sacct -c', fromQueue);
  return fromQueue;
}

function accountingStatus(jobId: string, row: string[], source: JobStatus['source'], fromQueue?: JobStatus): JobStatus {
  const { state, reason } = normalizeState(row[1]);
  return {
    jobId,
    state,
    reason: reason ?? fromQueue?.reason,
    exitCode: nonEmpty(row[2]),
    nodes: nonEmpty(row[3]) ?? fromQueue?.nodes,
    source,
  };
}

/** `|`-separated rows whose first field is the job (steps such as `12.batch` are left out). */
function parseRows(text: string, jobId: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.trim().split('|'))
    .filter((f) => f[0] === jobId && f.length >= 2);
}

function nonEmpty(s: string | undefined): string | undefined {
  const v = s?.trim();
  return v && v !== '(null)' && v !== 'None assigned' ? v : undefined;
}

function nonEmptyReason(s: string | undefined): string | undefined {
  const v = nonEmpty(s);
  return v && v !== 'None' ? v : undefined;
}
