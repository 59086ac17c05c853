import type { SlurmJobSettings } from './cluster-settings.ts';
import { jobLogFiles, type RemoteLayout } from './remote-layout.ts';
import { shellQuote } from './shell-quote.ts';

/**
 * The batch script of a cluster run, written to be read: a user who opens job.sbatch (the local run folder keeps a
 * copy) sees what SLURM is asked for, the site's setup lines, every value the run uses, and the one launch line.
 *
 * One `srun` task per node starts one `torchrun` there (static rendezvous on the first node of the allocation, at the
 * address SLURM itself reaches it by; the port derived from the job id so two jobs on one node do not collide), and
 * torchrun starts `nproc_per_node` trainer processes. Values enter only as quoted `export` lines and #SBATCH options
 * the schema has checked; the launch line is fixed text that reads them from the environment on each node.
 */
export interface SbatchInput {
  /** The run's name as the user gave it (a comment only). */
  runName: string;
  /** The job name (safe characters: remoteLayout's slug). */
  jobName: string;
  layout: RemoteLayout;
  job: SlurmJobSettings;
  /** The base model folder on the cluster. */
  baseModel: string;
  created: Date;
}

/** First port of the range MASTER_PORT is taken from (20000 + job id mod 20000: below Linux's ephemeral ports). */
const PORT_BASE = 20000;

export function renderSbatchScript(input: SbatchInput): string {
  const { job, layout } = input;
  const logs = jobLogFiles(layout, '%j');
  const directives: [string, string | number | undefined][] = [
    ['job-name', input.jobName],
    ['partition', job.partition],
    ['account', job.account],
    ['qos', job.qos],
    ['nodes', job.nodes],
    ['ntasks-per-node', 1],
    ['cpus-per-task', job.cpus_per_task],
    ['gpus-per-node', job.gpus_per_node > 0 ? job.gpus_per_node : undefined],
    ['mem', job.mem],
    ['time', job.time],
    ['signal', job.signal_seconds > 0 ? `USR1@${job.signal_seconds}` : undefined],
    ['chdir', layout.root],
    ['output', logs.stdout],
    ['error', logs.stderr],
    // A requeued job writes on after its earlier attempts' lines instead of over them.
    ['open-mode', 'append'],
  ];
  const lines = [
    '#!/bin/bash',
    `# LoRA Studio: fine-tune ${JSON.stringify(input.runName)} with LoRA on SLURM (written ${input.created.toISOString()}).`,
    '# Each node runs one torchrun (one srun task per node); torchrun starts the trainer processes there.',
    ...directives.filter(([, v]) => v !== undefined).map(([k, v]) => `#SBATCH --${k}=${v}`),
    `#SBATCH --${job.requeue ? 'requeue' : 'no-requeue'}`,
    '',
    'set -eo pipefail',
  ];
  if (job.setup?.trim()) {
    lines.push('', '# Site setup (--setup), run as given:', ...job.setup.split(/\r?\n/).map((l) => l.trimEnd()));
  }
  const env: [string, string | number][] = [
    ['LORA_STUDIO_PYTHON', job.python],
    ['LORA_STUDIO_TRAINER', layout.trainerEntry],
    ['LORA_STUDIO_BUNDLE', layout.bundle],
    ['LORA_STUDIO_RUN_DIR', layout.run],
    ['LORA_STUDIO_BASE_MODEL', input.baseModel],
    ['LORA_STUDIO_NPROC_PER_NODE', job.nproc_per_node],
    ['LORA_STUDIO_LOGS', layout.logs],
  ];
  lines.push(
    '',
    '# The run (each value quoted: none of it is read as shell).',
    ...env.map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    // Log lines reach the output files as they are printed, not when a buffer fills.
    'export PYTHONUNBUFFERED=1',
    "# torchrun gives each process one CPU thread unless told: the task's CPUs are shared among its processes.",
    'if [ -n "${SLURM_CPUS_PER_TASK:-}" ] && [ -z "${OMP_NUM_THREADS:-}" ]; then',
    '  export OMP_NUM_THREADS=$(( SLURM_CPUS_PER_TASK / LORA_STUDIO_NPROC_PER_NODE > 1 ? SLURM_CPUS_PER_TASK / LORA_STUDIO_NPROC_PER_NODE : 1 ))',
    'fi',
    '',
    '# Rendezvous: the first node of the allocation, at the address SLURM reaches it by; a port from the job id.',
    'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    `head_addr=$(scontrol show node "$head_node" 2>/dev/null | sed -n 's/.*NodeAddr=\\([^ ]*\\).*/\\1/p' | head -n 1)`,
    'export MASTER_ADDR="${head_addr:-$head_node}"',
    `export MASTER_PORT=$((${PORT_BASE} + SLURM_JOB_ID % ${PORT_BASE}))`,
    'echo "lora-studio: job $SLURM_JOB_ID (restart ${SLURM_RESTART_COUNT:-0}) on $SLURM_JOB_NODELIST, rendezvous $MASTER_ADDR:$MASTER_PORT"',
    '',
    "# torchrun's agent would die of SLURM's USR1 warning (--signal), which reaches every process of the step: it",
    '# ignores USR1, and the trainer processes, which set their own handler, save a checkpoint on it. --redirects and',
    "# --tee are given because torch 1.13's defaults crash on Python 3.11 (Std.from_str cannot read 0): a mapping that",
    '# names only local rank 9 leaves the console to ranks 0-8 (cluster-trainer/README.md).',
    'srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c \'trap "" USR1; exec "$LORA_STUDIO_PYTHON" -m torch.distributed.run \\',
    '  --nnodes="$SLURM_JOB_NUM_NODES" --node_rank="$SLURM_NODEID" --nproc_per_node="$LORA_STUDIO_NPROC_PER_NODE" \\',
    '  --master_addr="$MASTER_ADDR" --master_port="$MASTER_PORT" \\',
    '  --redirects=9:1 --tee=9:1 --log_dir="$LORA_STUDIO_LOGS/torchrun-$SLURM_JOB_ID-$SLURM_NODEID" \\',
    '  "$LORA_STUDIO_TRAINER" --bundle "$LORA_STUDIO_BUNDLE" --run_dir "$LORA_STUDIO_RUN_DIR" \\',
    '  --base_model "$LORA_STUDIO_BASE_MODEL" --resume auto\'',
    '',
  );
  return lines.join('\n');
}
