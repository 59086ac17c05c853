import { z } from 'zod';

/**
 * The settings of a cluster run besides the fine-tuning settings themselves: where the cluster is (a profile) and what
 * SLURM is asked for. Node-free, so the CLI flags, a saved profile (the studio) and the contract share one schema.
 *
 * Every value here may reach a shell on the cluster (an `#SBATCH` line, an `export NAME=...` line, a command over ssh).
 * The schema keeps each to the characters its kind needs and the code quotes it as well; only `setup` is shell by
 * design (the site's `module load ...`), and the dry run shows it.
 */

/** `local` (sbatch on this machine: the studio runs on the login node) or `ssh://[user@]host[:port]`. */
export const CLUSTER_TARGET_HELP =
  'Where to submit: local (sbatch here, on a login node) or ssh://[user@]host[:port] (through the system ssh).';

// A host as ssh takes it: a name or alias from ~/.ssh/config, an IPv4 address, or [IPv6]. Never starting with '-'
// (ssh would read it as an option).
const HOST = /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])$/;
const USER = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export interface SshTarget {
  kind: 'ssh';
  user?: string;
  host: string;
  port?: number;
}
export type ClusterTarget = { kind: 'local' } | SshTarget;

/** Parse `local` or `ssh://[user@]host[:port]`; a message naming the problem when it is neither. */
export function parseClusterTarget(text: string): ClusterTarget | string {
  if (text === 'local') return { kind: 'local' };
  const m = /^ssh:\/\/(?:([^@/]*)@)?(\[[^\]]*\]|[^:/@]*)(?::([^/]*))?\/?$/.exec(text);
  if (!m) return `"${text}" is neither local nor ssh://[user@]host[:port]`;
  const [, user, host, port] = m;
  if (user !== undefined && !USER.test(user)) return `"${user}" is not a user name (letters, digits, _ . -)`;
  if (!HOST.test(host)) return `"${host}" is not a host name (letters, digits, _ . -, or [IPv6])`;
  let portNumber: number | undefined;
  if (port !== undefined) {
    portNumber = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
    if (!(portNumber >= 1 && portNumber <= 65535)) return `"${port}" is not a port (1-65535)`;
  }
  return { kind: 'ssh', host, ...(user ? { user } : {}), ...(portNumber ? { port: portNumber } : {}) };
}

/** The target written back as text (`ssh://user@host:port`), as the profile and cluster.json keep it. */
export function formatClusterTarget(t: ClusterTarget): string {
  return t.kind === 'local' ? 'local' : `ssh://${t.user ? `${t.user}@` : ''}${t.host}${t.port ? `:${t.port}` : ''}`;
}

const clusterTarget = z.string().superRefine((text, ctx) => {
  const r = parseClusterTarget(text);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

// A path on the cluster: no whitespace, quotes or shell characters (it goes into #SBATCH lines, which sbatch splits on
// spaces), no '%' (SLURM's file-name patterns). `~/` means the home folder there.
const REMOTE_PATH = /^[A-Za-z0-9_./~+@,-]+$/;
const remotePath = (what: string) =>
  z
    .string()
    .min(1)
    .regex(REMOTE_PATH, `${what} may hold only letters, digits and _ . / ~ + @ , - (no spaces, quotes or shell characters)`)
    .refine((p) => !p.startsWith('-'), `${what} must not start with "-"`)
    .refine((p) => !p.startsWith('~') || p === '~' || p.startsWith('~/'), `${what}: only ~/ (your home) is understood, not ~user`);

// SLURM names (partition, account, QOS): what sites use, nothing a shell or sbatch's line parser would read.
const SLURM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const slurmName = (what: string) => z.string().regex(SLURM_NAME, `${what} names may hold only letters, digits and _ . + -`);

/** How to reach the cluster: the part of a profile every command needs (submit, status, logs, cancel, fetch). */
export const clusterConnectionSchema = z.object({
  cluster: clusterTarget.describe(CLUSTER_TARGET_HELP),
  ssh_config: z
    .string()
    .min(1)
    .optional()
    .describe('An ssh client config file to use instead of ~/.ssh/config (ssh -F); ssh targets only.'),
});
export type ClusterConnection = z.infer<typeof clusterConnectionSchema>;

/** What is asked of SLURM and how the trainer is started there. */
export const slurmJobSchema = z.object({
  partition: slurmName('partition').optional().describe('SLURM partition (sbatch --partition); the site default when left out.'),
  account: slurmName('account').optional().describe('SLURM account to charge (sbatch --account).'),
  qos: slurmName('QOS').optional().describe('SLURM quality of service (sbatch --qos).'),
  nodes: z.number().int().positive().max(1024).default(1).describe('Nodes: one torchrun is started on each (sbatch --nodes).'),
  nproc_per_node: z
    .number()
    .int()
    .positive()
    .max(64)
    .default(1)
    .describe('Trainer processes per node (torchrun --nproc_per_node): one per GPU, or 1-2 on CPUs.'),
  gpus_per_node: z.number().int().nonnegative().max(64).default(0).describe('GPUs per node (sbatch --gpus-per-node); 0 asks for none.'),
  cpus_per_task: z
    .number()
    .int()
    .positive()
    .max(4096)
    .optional()
    .describe("CPUs for each node's torchrun and its processes (sbatch --cpus-per-task)."),
  mem: z
    .string()
    .regex(/^\d+[KMGT]?$/, 'memory is a number with an optional K, M, G or T (e.g. 64G)')
    .optional()
    .describe('Memory per node (sbatch --mem), e.g. 64G.'),
  time: z
    .string()
    .regex(/^(?:(?:\d+-)?\d+(?::\d+){0,2}|UNLIMITED|INFINITE)$/, 'time is minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS')
    .optional()
    .describe('Time limit (sbatch --time), e.g. 2-00:00:00.'),
  python: z
    .string()
    .min(1)
    .regex(/^[^\s'"`$\\;&|<>(){}*?!#]+$/, 'python is a command name or a path without spaces or shell characters')
    .default('python3')
    .describe("The Python with PyTorch on the cluster's nodes: a name on the job's PATH or a full path."),
  setup: z
    .string()
    .refine((s) => !s.includes('\0'), 'setup must not hold NUL characters')
    .optional()
    .describe("Shell lines run in the job before the trainer starts, e.g. 'module load cuda; source ~/venv/bin/activate' (run as given)."),
  remote_dir: remotePath('remote_dir')
    .default('~/lora-studio-runs')
    .describe('Folder on the cluster that gets one subfolder per run (trainer, prepared data, run folder, logs).'),
  cluster_base_model: remotePath('cluster_base_model')
    .optional()
    .describe('The base model folder on the cluster (default: base_model, the same path as here).'),
  requeue: z
    .boolean()
    .default(false)
    .describe('Let SLURM requeue the job after a preemption or node failure (sbatch --requeue); it resumes from its newest checkpoint.'),
  signal_seconds: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(120)
    .describe('Seconds before the time limit at which SLURM warns the trainer (SIGUSR1), which then saves a checkpoint; 0: no warning.'),
});
export type SlurmJobSettings = z.infer<typeof slurmJobSchema>;

/** `cluster submit`'s own flags beside the fine-tuning settings. */
export const clusterSubmitSchema = clusterConnectionSchema.extend(slurmJobSchema.shape).extend({
  dry_run: z.boolean().default(false).describe('Print the sbatch script and the staging plan; stage and submit nothing.'),
  wait: z
    .boolean()
    .default(false)
    .describe('Follow the job (state changes, metric lines) and fetch the adapter when it ends; exit 0 only when it completed.'),
});
export type ClusterSubmitSettings = z.infer<typeof clusterSubmitSchema>;

/** A saved cluster profile (the studio keeps several): a name, the connection, and job defaults. */
export const clusterProfileSchema = z
  .object({ name: z.string().min(1).max(100).describe("The profile's name, as the studio lists it.") })
  .extend(clusterConnectionSchema.shape)
  .extend(withoutDefaults(slurmJobSchema.shape));

/**
 * A shape's fields made optional with their defaults taken off: a profile keeps what the user gave, and the
 * defaults apply when a run is submitted (zod 4's `.partial()` would still fill each default in).
 */
function withoutDefaults<S extends z.ZodRawShape>(shape: S): { [K in keyof S]: z.ZodOptional<z.ZodType<z.output<S[K]>, z.input<S[K]>>> } {
  return Object.fromEntries(
    Object.entries(shape).map(([k, v]) => [k, (v instanceof z.ZodDefault ? (v.unwrap() as z.ZodType) : (v as z.ZodType)).optional()]),
  ) as never;
}
export type ClusterProfile = z.infer<typeof clusterProfileSchema>;
