import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * A real SLURM cluster on this machine, started without systemd, for the cluster tests: munged (as the munge user,
 * on a socket of its own), slurmctld and one slurmd per node (Debian's slurmd runs several on one host, each node
 * named in slurm.conf with its own port), all configured in a temp folder so two clusters (two test files, or two
 * engineers' tests) never share a socket, a port or a state folder. Optionally an sshd on a loopback port that takes
 * only a generated key, with a client config (`ssh -F`) that trusts only its generated host key. `stop()` cancels the
 * cluster's jobs and ends every daemon it started, by the PID each wrote.
 *
 * Needs root (slurmd starts jobs as their user; munged is started as munge) and Debian's slurm-wlm, munge and
 * openssh-server, which .ci/run installs.
 */
export interface TestCluster {
  dir: string;
  /** SLURM_CONF for the client commands (sbatch, squeue, sacct, scancel, scontrol). */
  conf: string;
  /** process.env with SLURM_CONF set: give it to every process that talks to this cluster. */
  env: NodeJS.ProcessEnv;
  nodes: string[];
  partition: string;
  /** The job-completion file `sacct -c` reads. */
  jobcompFile: string;
  ssh?: TestSsh;
  /** Run a SLURM client command against this cluster; returns stdout. */
  slurm(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}

export interface TestSsh {
  port: number;
  /** End the sshd and every connection it serves (a dropped network, as a client sees it). */
  down(): Promise<void>;
  /** Start it again on the same port with the same keys. */
  up(): Promise<void>;
  /** `ssh://root@127.0.0.1:PORT` */
  target: string;
  /** Client config (`ssh -F`): the generated key, this sshd's host key as the only known host, BatchMode. */
  config: string;
  /** A client config whose key the sshd does not accept (for the "key refused" fault). */
  refusedConfig: string;
}

const PACKAGES: Record<string, string> = {
  '/usr/sbin/slurmctld': 'slurm-wlm (slurmctld)',
  '/usr/sbin/slurmd': 'slurm-wlm (slurmd)',
  '/usr/bin/sbatch': 'slurm-client (sbatch)',
  '/usr/sbin/munged': 'munge',
  '/usr/sbin/sshd': 'openssh-server',
  '/usr/bin/ssh': 'openssh-client',
};

/** Why the cluster tests cannot run here (missing packages, not root), or undefined. Prints the reason. */
export function missingCluster(): string | undefined {
  const absent = Object.entries(PACKAGES)
    .filter(([file]) => !existsSync(file))
    .map(([, pkg]) => pkg);
  let reason: string | undefined;
  if (absent.length) reason = `skipped: the test SLURM cluster needs ${absent.join(', ')} (apt-get install; .ci/run installs them)`;
  else if (process.getuid?.() !== 0) reason = 'skipped: the test SLURM cluster needs root (slurmd starts jobs as their user)';
  else if (spawnSync('getent', ['passwd', 'munge']).status !== 0) reason = 'skipped: no munge user (install the munge package)';
  if (reason) console.warn(reason);
  return reason;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A process that has exited (a zombie waiting for a reaper counts as gone). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitFor(what: string, ok: () => boolean, ms: number, log?: () => string): Promise<void> {
  const until = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`test cluster: ${what} did not happen within ${ms} ms${log ? `\n${log()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The processes under `pid` (an sshd's connections, each a process of its own), children first found first. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parentOf) {
      if (parent !== p) continue;
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

/** SIGTERM a daemon (and, for sshd, the connections it serves), SIGKILL what is left after 10 s. */
async function endDaemon(pid: number, what: string, withChildren = false): Promise<void> {
  const pids = [pid, ...(withChildren ? descendants(pid) : [])].filter((p) => !gone(p));
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  for (const p of pids) {
    try {
      await waitFor(`exit of PID ${p} (${what})`, () => gone(p), 10_000);
    } catch {
      process.kill(p, 'SIGKILL');
    }
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function tail(file: string): string {
  try {
    return `${file}:\n${readFileSync(file, 'utf8').split('\n').slice(-15).join('\n')}`;
  } catch {
    return `${file}: (none)`;
  }
}

/** The node's CPUs and memory as slurmd sees them (`slurmd -C`), so the configured nodes never exceed the machine. */
function hardware(): { cpus: number; memoryMb: number } {
  const out = execFileSync('/usr/sbin/slurmd', ['-C'], { encoding: 'utf8' });
  const cpus = Number(/CPUs=(\d+)/.exec(out)?.[1] ?? 1);
  const memoryMb = Number(/RealMemory=(\d+)/.exec(out)?.[1] ?? 1024);
  return { cpus, memoryMb };
}

export interface TestClusterOptions {
  /** Nodes, each a slurmd of its own on this host (default 2). */
  nodes?: number;
  /** Also start an sshd on a loopback port (default false). */
  ssh?: boolean;
  /** Seconds `scontrol`/`squeue` keep a finished job (SLURM's minimum is 2; default 300, SLURM's default). */
  minJobAge?: number;
}

export async function startTestCluster(opts: TestClusterOptions = {}): Promise<TestCluster> {
  const nodeCount = opts.nodes ?? 2;
  const dir = mkdtempSync(path.join(tmpdir(), 'slurm-test-'));
  chmodSync(dir, 0o755); // munged (as munge) and job processes must reach into it
  const at = (...p: string[]) => path.join(dir, ...p);
  const pidFiles: string[] = [];
  const ids = {
    uid: Number(execFileSync('id', ['-u', 'munge'], { encoding: 'utf8' })),
    gid: Number(execFileSync('id', ['-g', 'munge'], { encoding: 'utf8' })),
  };

  const stop = async () => {
    if (existsSync(at('slurm.conf')) && readPid(at('slurmctld.pid'))) {
      // Cancel what still runs, so no job process outlives its slurmd.
      spawnSync('scancel', ['--full', '--partition', 'debug'], { env: { ...process.env, SLURM_CONF: at('slurm.conf') }, timeout: 10_000 });
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        const r = spawnSync('squeue', ['-h', '-o', '%i'], {
          env: { ...process.env, SLURM_CONF: at('slurm.conf') },
          encoding: 'utf8',
          timeout: 10_000,
        });
        if (r.status !== 0 || !r.stdout.trim()) break;
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    // Daemons in reverse start order: sshd, slurmd, slurmctld, munged.
    for (const file of [...pidFiles].reverse()) {
      const pid = readPid(file);
      if (pid && !gone(pid)) await endDaemon(pid, path.basename(file), path.basename(file) === 'sshd.pid');
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // munged: as the munge user (as root it refuses a munge-owned key), with its own key and socket.
    const mungeKeyDir = at('munge');
    const mungeRun = at('munge-run');
    mkdirSync(mungeKeyDir, { mode: 0o700 });
    mkdirSync(mungeRun, { mode: 0o755 }); // the socket's folder must be searchable by all
    writeFileSync(path.join(mungeKeyDir, 'munge.key'), randomBytes(1024), { mode: 0o400 });
    for (const p of [mungeKeyDir, mungeRun, path.join(mungeKeyDir, 'munge.key')]) chownSync(p, ids.uid, ids.gid);
    const mungeSocket = path.join(mungeRun, 'munge.socket');
    pidFiles.push(path.join(mungeRun, 'munged.pid'));
    execFileSync('runuser', [
      '-u',
      'munge',
      '--',
      '/usr/sbin/munged',
      `--socket=${mungeSocket}`,
      `--key-file=${path.join(mungeKeyDir, 'munge.key')}`,
      `--pid-file=${path.join(mungeRun, 'munged.pid')}`,
      `--log-file=${path.join(mungeKeyDir, 'munged.log')}`,
      `--seed-file=${path.join(mungeKeyDir, 'munged.seed')}`,
    ]);

    const { cpus, memoryMb } = hardware();
    const host = execFileSync('hostname', { encoding: 'utf8' }).trim();
    const ctldPort = await freePort();
    const nodePorts = await Promise.all(Array.from({ length: nodeCount }, () => freePort()));
    const nodes = nodePorts.map((_, i) => `n${i + 1}`);
    const name = `t${path
      .basename(dir)
      .replace(/[^a-z0-9]/gi, '')
      .slice(-8)
      .toLowerCase()}`;
    for (const d of ['state', 'spool', 'log']) mkdirSync(at(d));
    const conf = [
      `ClusterName=${name}`,
      `SlurmctldHost=${host}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${nodePorts[0]}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${mungeSocket}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${at('state')}`,
      `SlurmdSpoolDir=${at('spool', '%n')}`,
      `SlurmctldPidFile=${at('slurmctld.pid')}`,
      `SlurmdPidFile=${at('slurmd-%n.pid')}`,
      `SlurmctldLogFile=${at('log', 'slurmctld.log')}`,
      `SlurmdLogFile=${at('log', 'slurmd-%n.log')}`,
      // No cgroups, no systemd: processes tracked through /proc, tasks not bound.
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      // No slurmdbd: plain sacct refuses; `sacct -c` reads the job-completion file.
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      'JobCompType=jobcomp/filetxt',
      `JobCompLoc=${at('jobcomp.txt')}`,
      'MpiDefault=none',
      'ReturnToService=2',
      `MinJobAge=${opts.minJobAge ?? 300}`,
      ...nodes.map(
        (n, i) =>
          `NodeName=${n} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${nodePorts[i]} CPUs=${cpus} RealMemory=${Math.max(256, Math.floor(memoryMb / 2))} State=UNKNOWN`,
      ),
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    ].join('\n');
    writeFileSync(at('slurm.conf'), conf + '\n');
    const env = { ...process.env, SLURM_CONF: at('slurm.conf') };

    pidFiles.push(at('slurmctld.pid'));
    execFileSync('/usr/sbin/slurmctld', ['-f', at('slurm.conf')], { env });
    for (const n of nodes) {
      pidFiles.push(at(`slurmd-${n}.pid`));
      execFileSync('/usr/sbin/slurmd', ['-f', at('slurm.conf'), '-N', n], { env });
    }
    await waitFor(
      'every node idle',
      () => {
        const r = spawnSync('sinfo', ['-h', '-N', '-o', '%N %t'], { env, encoding: 'utf8' });
        return r.status === 0 && nodes.every((n) => new RegExp(`^${n} idle`, 'm').test(r.stdout));
      },
      20_000,
      () => [tail(at('log', 'slurmctld.log')), ...nodes.map((n) => tail(at('log', `slurmd-${n}.log`)))].join('\n'),
    );

    const cluster: TestCluster = {
      dir,
      conf: at('slurm.conf'),
      env,
      nodes,
      partition: 'debug',
      jobcompFile: at('jobcomp.txt'),
      slurm: (cmd, args) => execFileSync(cmd, args, { env, encoding: 'utf8' }),
      stop,
    };
    if (opts.ssh) cluster.ssh = await startSshd(dir, at('slurm.conf'), pidFiles);
    return cluster;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** sshd on a loopback port: only the generated key, SLURM_CONF set in every session (a site's /etc/slurm). */
async function startSshd(dir: string, slurmConf: string, pidFiles: string[]): Promise<TestSsh> {
  const at = (...p: string[]) => path.join(dir, 'ssh', ...p);
  mkdirSync(at(), { mode: 0o700 });
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lora-studio-test', '-f', file]);
  keygen(at('host_key'));
  keygen(at('client_key'));
  keygen(at('refused_key'));
  writeFileSync(at('authorized_keys'), readFileSync(at('client_key.pub')), { mode: 0o600 });
  // sshd needs its privilege separation folder (Debian's package makes it at boot through systemd).
  if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });
  const port = await freePort();
  writeFileSync(
    at('sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${at('host_key')}`,
      `PidFile ${at('sshd.pid')}`,
      `AuthorizedKeysFile ${at('authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `SetEnv SLURM_CONF=${slurmConf}`,
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      '',
    ].join('\n'),
  );
  pidFiles.push(at('sshd.pid'));
  const up = () => execFileSync('/usr/sbin/sshd', ['-f', at('sshd_config'), '-E', at('sshd.log')]);
  up();
  const hostKey = readFileSync(at('host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(at('known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
  const client = (key: string) =>
    [
      'Host *',
      `  IdentityFile ${key}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${at('known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '',
    ].join('\n');
  writeFileSync(at('client_config'), client(at('client_key')));
  writeFileSync(at('refused_config'), client(at('refused_key')));
  await waitFor(
    'sshd accepting the key',
    () => {
      const r = spawnSync('ssh', ['-F', at('client_config'), '-p', String(port), 'root@127.0.0.1', 'true'], { timeout: 10_000 });
      return r.status === 0;
    },
    15_000,
    () => tail(at('sshd.log')),
  );
  return {
    port,
    target: `ssh://root@127.0.0.1:${port}`,
    config: at('client_config'),
    refusedConfig: at('refused_config'),
    down: async () => {
      const pid = readPid(at('sshd.pid'));
      if (pid) await endDaemon(pid, 'sshd', true);
    },
    up: async () => {
      up();
      await waitFor(
        'sshd listening again',
        () => spawnSync('ssh', ['-F', at('client_config'), '-p', String(port), 'root@127.0.0.1', 'true'], { timeout: 10_000 }).status === 0,
        15_000,
      );
    },
  };
}
