import { Option, type Command } from 'commander';
import { clusterSubmitSchema } from '../cluster/cluster-settings.ts';
import { isTerminal } from '../cluster/job-state.ts';
import type { FetchResult } from '../cluster/fetch.ts';
import type { FollowResult } from '../cluster/follow.ts';
import { StudioError } from '../engine/errors.ts';
import { readConfigFile } from '../engine/train/config-file.ts';
import { finetuneConfigSchema } from '../engine/train/config.ts';
import { readMetrics, runPaths } from '../engine/train/run-folder.ts';
import { ClusterPrinter, describeStatus } from './cluster-printer.ts';
import { action } from './common.ts';
import { addSchemaFlags } from './schema-flags.ts';

const FINETUNE_FIELDS = new Set(Object.keys(finetuneConfigSchema.shape));
const CLUSTER_FIELDS = new Set(Object.keys(clusterSubmitSchema.shape));

function pick(flags: Record<string, unknown>, fields: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && fields.has(k)));
}

/** `--output_dir RUN`: the local run folder of a submitted cluster run. */
function runOption(cmd: Command): Command {
  return cmd.requiredOption('--output_dir <dir>', 'the local run folder of the cluster run (cluster.json says where the job is)');
}

/** The end of a followed job as the exit of the command: 0 only for a completed job whose fetch refused nothing. */
function finishFollow(r: FollowResult & { fetched?: FetchResult }, runDir: string): void {
  const refused = r.fetched?.refused ?? [];
  if (r.status.state === 'COMPLETED' && refused.length === 0) {
    const ckpts = [...(r.fetched?.checkpoints.fetched ?? []), ...(r.fetched?.checkpoints.unchanged ?? [])];
    console.error(
      `done: ${describeStatus(r.status)}; adapter: ${r.fetched && r.fetched.adapter !== 'absent' ? runPaths(runDir).adapter : 'none'}` +
        `${ckpts.length ? `; checkpoints: ${ckpts.join(', ')}` : ''}`,
    );
    return;
  }
  if (r.failure) throw new StudioError(r.failure, undefined, 'cluster/job-failed');
  throw new StudioError(`fetch refused ${refused.map((x) => `${x.piece} (${x.problem})`).join('; ')}`, undefined, 'cluster/fetch-refused');
}

/**
 * `lora-studio cluster submit|wait|status|logs|cancel|fetch`: a fine-tune on a SLURM cluster, from this machine (the
 * login node: `--cluster local`) or through ssh. submit takes every finetune flag plus the cluster's; the others take
 * the local run folder, whose cluster.json finds the job again.
 */
export function registerCluster(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('Run a fine-tune on a SLURM cluster (sbatch, srun, torchrun), follow it, bring the adapter home');

  const submit = cluster
    .command('submit')
    .description('Prepare the run here, stage it on the cluster, and sbatch it (every finetune flag, plus where and how to run)')
    .option('--config <file>', 'JSON file of finetune settings (flags given on the command line override it)');
  addSchemaFlags(submit, finetuneConfigSchema, { mandatory: false });
  addSchemaFlags(submit, clusterSubmitSchema, {
    placeholder: {
      cluster: 'local|ssh://[user@]host[:port]',
      ssh_config: 'file',
      partition: 'name',
      account: 'name',
      qos: 'name',
      python: 'path',
      setup: 'lines',
      remote_dir: 'dir',
      cluster_base_model: 'dir',
      mem: 'size',
      time: 'limit',
      nodes: 'n',
      nproc_per_node: 'n',
      gpus_per_node: 'n',
      cpus_per_task: 'n',
      signal_seconds: 's',
    },
  });
  submit.action(
    action(async (flags: Record<string, unknown>) => {
      const { submitRun } = await import('../cluster/submit.ts');
      const { prepareRunBundle } = await import('../engine/train/prepared-run.ts');
      const fromFile = typeof flags.config === 'string' ? readConfigFile(flags.config) : {};
      const settings = { ...fromFile, ...pick(flags, FINETUNE_FIELDS) };
      const clusterSettings = pick(flags, CLUSTER_FIELDS);
      const printer = new ClusterPrinter();
      const r = await submitRun({ settings, cluster: clusterSettings }, { onEvent: printer.onEvent, prepareBundle: prepareRunBundle });
      printer.finish();
      if (r.dryRun) {
        process.stdout.write(r.script);
        process.stdout.write('\n# The staging plan (nothing was staged or submitted):\n');
        for (const item of r.plan) process.stdout.write(`#   ${item.what}: ${item.from} -> ${item.to} (${item.bytes} bytes)\n`);
        return;
      }
      if (!clusterSettings.wait) {
        console.error(`follow it with: lora-studio cluster wait --output_dir ${JSON.stringify(r.runDir)}`);
        return;
      }
      const { followClusterRun } = await import('../cluster/control.ts');
      finishFollow(await followClusterRun(r.runDir, { onEvent: printer.onEvent, fetch: true }), r.runDir);
      printer.finish();
    }),
  );

  runOption(
    cluster
      .command('wait')
      .description('Follow a submitted job (states, metric lines) until it ends, then fetch its adapter and checkpoints'),
  ).action(
    action(async (flags: { output_dir: string }) => {
      const { followClusterRun } = await import('../cluster/control.ts');
      const printer = new ClusterPrinter();
      const r = await followClusterRun(flags.output_dir, { onEvent: printer.onEvent, fetch: true });
      printer.finish();
      finishFollow(r, flags.output_dir);
    }),
  );

  runOption(
    cluster
      .command('status')
      .description("The job's state (PENDING with its reason, RUNNING, COMPLETED, FAILED, ...) and its last metrics"),
  ).action(
    action(async (flags: { output_dir: string }) => {
      const { clusterRunStatus } = await import('../cluster/control.ts');
      const r = await clusterRunStatus(flags.output_dir);
      const m = readMetrics(runPaths(flags.output_dir).metrics);
      const last = [...m.points].reverse().find((p) => p.loss !== undefined);
      const progress = last ? `; step ${last.step} loss ${last.loss!.toFixed(4)}` : '';
      console.log(r.failure ?? `${describeStatus(r.status)} on ${r.record.cluster}${progress}`);
    }),
  );

  const logs = runOption(
    cluster.command('logs').description("The job's stdout and stderr (copied into RUN/cluster-logs/), from the start"),
  );
  logs.addOption(new Option('--stream <which>', 'which output').choices(['stdout', 'stderr', 'both']).default('both'));
  logs.addOption(new Option('--follow [bool]', 'keep printing new lines until the job ends').default(false));
  logs.action(
    action(async (flags: { output_dir: string; stream: 'stdout' | 'stderr' | 'both'; follow: boolean | string }) => {
      const { readFileSync, existsSync } = await import('node:fs');
      const { syncClusterRun, followClusterRun } = await import('../cluster/control.ts');
      const { clusterPaths } = await import('../cluster/cluster-run-files.ts');
      const record = await syncClusterRun(flags.output_dir);
      for (const stream of ['stdout', 'stderr'] as const) {
        if (flags.stream !== 'both' && flags.stream !== stream) continue;
        const file = clusterPaths(flags.output_dir).logFile(record.job_id!, stream);
        if (existsSync(file)) process.stdout.write(readFileSync(file));
      }
      if (flags.follow === true || /^(true|1|yes)$/i.test(String(flags.follow))) {
        const printer = new ClusterPrinter({ logs: flags.stream, metrics: false });
        await followClusterRun(flags.output_dir, { onEvent: printer.onEvent });
      }
    }),
  );

  runOption(cluster.command('cancel').description('scancel the job; its checkpoints stay on the cluster (fetch brings them)')).action(
    action(async (flags: { output_dir: string }) => {
      const { cancelClusterRun } = await import('../cluster/control.ts');
      const status = await cancelClusterRun(flags.output_dir);
      if (!status || !isTerminal(status.state))
        throw new StudioError(
          `scancel sent, but the job has not ended yet (${status ? describeStatus(status) : 'no state'})`,
          undefined,
          'cluster/cancel',
        );
      console.error(
        `${describeStatus(status)}; its checkpoints stay on the cluster: lora-studio cluster fetch --output_dir ${JSON.stringify(flags.output_dir)} brings them`,
      );
    }),
  );

  runOption(
    cluster.command('fetch').description('Bring the adapter and checkpoints home, each verified (SHA-256, manifest, PEFT reader)'),
  ).action(
    action(async (flags: { output_dir: string }) => {
      const { fetchClusterRun } = await import('../cluster/control.ts');
      const printer = new ClusterPrinter();
      const r = await fetchClusterRun(flags.output_dir, { onEvent: printer.onEvent });
      printer.finish();
      if (r.refused.length)
        throw new StudioError(
          `fetch refused ${r.refused.map((x) => `${x.piece} (${x.problem})`).join('; ')}`,
          undefined,
          'cluster/fetch-refused',
        );
      const ckpts = [...r.checkpoints.fetched, ...r.checkpoints.unchanged];
      console.error(`adapter: ${r.adapter}; checkpoints: ${ckpts.length ? ckpts.join(', ') : 'none'}`);
    }),
  );
}
