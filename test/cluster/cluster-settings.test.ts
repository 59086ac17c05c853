import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clusterSubmitSchema, formatClusterTarget, parseClusterTarget, slurmJobSchema } from '../../main/cluster/cluster-settings.ts';
import { normalizeState } from '../../main/cluster/job-state.ts';
import { remoteLayout, remoteRunName, resolveRemoteDir } from '../../main/cluster/remote-layout.ts';
import { renderSbatchScript } from '../../main/cluster/sbatch-script.ts';
import { shellLine, shellQuote } from '../../main/cluster/shell-quote.ts';

/**
 * What reaches a shell on the cluster, checked without a cluster: the targets a user may give, the values the schema
 * refuses, the quoting (against a real /bin/sh and bash), the batch script (bash parses it; every value sits in a
 * quoted export line), and SLURM's state words.
 */

/** What /bin/sh (or bash) makes of a command line: each argument, NUL-separated. */
function shellWords(line: string, shell = '/bin/sh'): string[] {
  // A first word of our own: printf with no arguments would still print one empty one.
  const r = spawnSync(shell, ['-c', `printf '%s\\0' first ${line}`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\0').slice(1, -1);
}

describe('cluster targets', () => {
  it('reads local and ssh://[user@]host[:port], and writes them back the same', () => {
    expect(parseClusterTarget('local')).toEqual({ kind: 'local' });
    expect(parseClusterTarget('ssh://login.hpc.example.org')).toEqual({ kind: 'ssh', host: 'login.hpc.example.org' });
    expect(parseClusterTarget('ssh://ana@hpc:2222')).toEqual({ kind: 'ssh', user: 'ana', host: 'hpc', port: 2222 });
    expect(parseClusterTarget('ssh://ana@[::1]:22')).toEqual({ kind: 'ssh', user: 'ana', host: '[::1]', port: 22 });
    for (const t of ['local', 'ssh://hpc', 'ssh://ana@hpc:2222', 'ssh://[::1]:22']) {
      const parsed = parseClusterTarget(t);
      expect(typeof parsed).not.toBe('string');
      expect(formatClusterTarget(parsed as Exclude<typeof parsed, string>)).toBe(t);
    }
  });

  it('refuses what ssh would read as an option or a shell would read as a command', () => {
    for (const [bad, why] of [
      ['hpc', /neither local nor ssh/],
      ['ssh://-oProxyCommand=touch', /not a host name/],
      ['ssh://hpc;id', /not a host name/],
      ['ssh://$(id)@hpc', /not a user name/],
      ['ssh://ana@hpc:0', /not a port/],
      ['ssh://ana@hpc:99999', /not a port/],
      ['ssh://ana@hpc:22x', /not a port/],
      ['ssh://', /not a host name/],
    ] as const) {
      expect(parseClusterTarget(bad), bad).toMatch(why);
    }
  });
});

describe('job settings', () => {
  const ok = { cluster: 'local' };
  it('refuses partition, account, QOS, paths and python values holding shell characters, naming the field', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ partition: 'gpu;touch /tmp/x' }, /partition names may hold only/],
      [{ partition: '$(touch /tmp/x)' }, /partition names may hold only/],
      [{ account: 'a b' }, /account names/],
      [{ qos: '`id`' }, /QOS names/],
      [{ remote_dir: '/scratch/my runs' }, /remote_dir may hold only/],
      [{ remote_dir: '~other/runs' }, /only ~\//],
      [{ remote_dir: '-rf' }, /must not start with "-"/],
      [{ cluster_base_model: '/models/$(id)' }, /cluster_base_model may hold only/],
      [{ python: 'python3; rm -rf ~' }, /python is a command name/],
      [{ mem: '64 GB' }, /memory is a number/],
      [{ time: '1 day' }, /time is minutes/],
      [{ nodes: 0 }, /nodes/],
      [{ cluster: 'ssh://a b' }, /not a host name/],
    ];
    for (const [values, why] of bad) {
      const r = clusterSubmitSchema.safeParse({ ...ok, ...values });
      expect(r.success, JSON.stringify(values)).toBe(false);
      expect(r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')).toMatch(why);
    }
    const good = clusterSubmitSchema.parse({
      ...ok,
      partition: 'gpu-a100.short',
      account: 'proj_42',
      mem: '64G',
      time: '2-00:00:00',
      python: '/opt/venv/bin/python3',
      setup: 'module load cuda/12.1; source ~/venv/bin/activate',
      remote_dir: '~/scratch/lora',
    });
    expect(good).toMatchObject({
      nodes: 1,
      nproc_per_node: 1,
      gpus_per_node: 0,
      requeue: false,
      signal_seconds: 120,
      dry_run: false,
      wait: false,
    });
  });
});

describe('shell quoting', () => {
  it('gives every string back unchanged through /bin/sh and bash, whatever it holds', () => {
    const tricky = ["it's", 'a "b"', '$(touch /tmp/never)', '`id`', 'a;b|c&d', '* ?', 'new\nline', "''", '\\', '-rf', '~', '!x', ''];
    for (const shell of ['/bin/sh', '/bin/bash']) expect(shellWords(shellLine(tricky), shell)).toEqual(tricky);
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'binary' }).map((s) => s.replace(/\0/g, '')),
          { maxLength: 6 },
        ),
        (words) => {
          expect(shellWords(shellLine(words))).toEqual(words);
        },
      ),
      { numRuns: 60 },
    );
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('remote layout', () => {
  it('names a run folder from any local name with safe characters, under the home folder there', () => {
    const name = remoteRunName(`/runs/my run "x" $(id)`, new Date('2026-01-02T03:04:05Z'));
    expect(name).toMatch(/^my-run-x-id-20260102-030405-[0-9a-f]{4}$/);
    expect(resolveRemoteDir('~/lora-studio-runs', '/home/ana')).toBe('/home/ana/lora-studio-runs');
    expect(resolveRemoteDir('runs', '/home/ana')).toBe('/home/ana/runs');
    expect(resolveRemoteDir('/scratch/ana/', '/home/ana')).toBe('/scratch/ana');
  });
});

describe('the batch script', () => {
  const layout = remoteLayout('/scratch/ana/run-20260102-030405-abcd');
  const script = (job: Record<string, unknown>, base = '/models/llama') =>
    renderSbatchScript({
      runName: `my run "x"`,
      jobName: 'lora-studio-my-run-x',
      layout,
      job: slurmJobSchema.parse(job),
      baseModel: base,
      created: new Date(0),
    });

  it('asks SLURM for what was given, and bash parses it', () => {
    const s = script({
      partition: 'gpu',
      account: 'proj',
      qos: 'high',
      nodes: 2,
      nproc_per_node: 4,
      gpus_per_node: 4,
      cpus_per_task: 32,
      mem: '256G',
      time: '1-00:00:00',
      requeue: true,
      setup: 'module load cuda\nsource ~/venv/bin/activate',
      python: '/opt/venv/bin/python',
    });
    for (const line of [
      '#SBATCH --partition=gpu',
      '#SBATCH --account=proj',
      '#SBATCH --qos=high',
      '#SBATCH --nodes=2',
      '#SBATCH --ntasks-per-node=1',
      '#SBATCH --cpus-per-task=32',
      '#SBATCH --gpus-per-node=4',
      '#SBATCH --mem=256G',
      '#SBATCH --time=1-00:00:00',
      '#SBATCH --signal=USR1@120',
      '#SBATCH --requeue',
      '#SBATCH --open-mode=append',
      `#SBATCH --output=${layout.logs}/slurm-%j.out`,
      'module load cuda',
      'source ~/venv/bin/activate',
      'export LORA_STUDIO_PYTHON=/opt/venv/bin/python',
      'export LORA_STUDIO_NPROC_PER_NODE=4',
      'export MASTER_PORT=$((20000 + SLURM_JOB_ID % 20000))',
    ])
      expect(s.split('\n'), line).toContain(line);
    expect(s).toMatch(/srun --ntasks-per-node=1 .*torch\.distributed\.run/);
    expect(s).toContain('--redirects=9:1 --tee=9:1');
    const r = spawnSync('bash', ['-n'], { input: s, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(script({}).split('\n')).toContain('#SBATCH --no-requeue');
    expect(script({ signal_seconds: 0 })).not.toContain('#SBATCH --signal');
    expect(script({})).not.toMatch(/--partition|--gpus-per-node|--mem=|Site setup/);
  });

  it('holds values only in quoted export lines: a value the schema let through still reads as text', () => {
    // The schema never lets such a base path through; rendered anyway, bash reads it as one word, runs nothing.
    const base = `/models/it's $(touch /tmp/never) "x"`;
    const s = script({}, base);
    const exports = s.split('\n').filter((l) => l.startsWith('export LORA_STUDIO_BASE_MODEL='));
    expect(exports).toHaveLength(1);
    const r = spawnSync('bash', ['-c', `${exports[0]}; printf '%s' "$LORA_STUDIO_BASE_MODEL"`], { encoding: 'utf8' });
    expect(r.stdout).toBe(base);
  });
});

describe('SLURM states', () => {
  it('maps squeue and sacct words (long, short, cut, with "by UID") to one state', () => {
    expect(normalizeState('RUNNING')).toEqual({ state: 'RUNNING' });
    expect(normalizeState('CANCELLED by 0')).toEqual({ state: 'CANCELLED' });
    expect(normalizeState('PD')).toEqual({ state: 'PENDING' });
    expect(normalizeState('OUT_OF_ME+')).toEqual({ state: 'OUT_OF_MEMORY' });
    expect(normalizeState('REQUEUE_HOLD')).toEqual({ state: 'REQUEUED', reason: 'REQUEUE_HOLD' });
    expect(normalizeState('SPECIAL_EXIT')).toEqual({ state: 'UNKNOWN', reason: 'SPECIAL_EXIT' });
  });
});
