import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { StudioError } from '../engine/errors.ts';
import { lastLine, type CommandResult, type RunOptions } from './process.ts';
import { shellLine } from './shell-quote.ts';

/**
 * The door to a cluster's login node: run a POSIX shell command line there and move folders both ways. Two kinds:
 * `local` (this machine is the login node) and `ssh` (the system's ssh, so the user's ~/.ssh/config, agent, keys and
 * jump hosts apply). Commands run in the home folder there, as an ssh command does. Files move as tar streams through
 * the same door, so a transfer needs nothing on the cluster but tar, and a path there is only ever a quoted word.
 */
export interface Transport {
  /** `local` or `ssh://user@host:port`, for messages. */
  readonly label: string;
  /** Run `command` (a POSIX shell command line; quote every value with shellQuote) on the cluster. */
  exec(command: string, opts?: Pick<RunOptions, 'input' | 'stdoutTo' | 'timeoutMs' | 'signal'>): Promise<CommandResult>;
  /** End what the transport keeps open (ssh's shared connection). */
  close(): Promise<void>;
}

/** A command that could not run as asked on the cluster, with the command's own last stderr line. */
export class ClusterCommandError extends StudioError {
  constructor(message: string, code = 'cluster/command') {
    super(message, undefined, code);
    this.name = 'ClusterCommandError';
  }
}

/** Run `command` and return its stdout as text; a non-zero exit is an error that says what failed and why. */
export async function execText(t: Transport, command: string, what: string, timeoutMs = 120_000): Promise<string> {
  const r = await t.exec(command, { timeoutMs });
  if (r.code !== 0) throw new ClusterCommandError(`${what} failed on ${t.label} (exit ${r.code}): ${lastLine(r.stderr) || 'no message'}`);
  return r.stdout.toString('utf8');
}

/** Copy the contents of `localDir` into `remoteDir` on the cluster (created). `exclude`: tar patterns left out. */
export async function uploadFolder(t: Transport, localDir: string, remoteDir: string, exclude: string[] = []): Promise<void> {
  const tar = spawn('tar', ['-C', localDir, ...exclude.map((p) => `--exclude=${p}`), '-cf', '-', '.'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [remote, local] = await Promise.allSettled([
    t.exec(`mkdir -p -- ${shellLine([remoteDir])} && tar -C ${shellLine([remoteDir])} --no-same-owner -xf -`, { input: tar.stdout }),
    processDone(tar, 'tar (packing the upload)'),
  ]);
  settle(remote, local, t, `copying ${localDir} to ${remoteDir}`);
}

/** Copy `names` (files or folders relative to `remoteDir`) into `localDir` (created). */
export async function downloadFiles(t: Transport, remoteDir: string, names: string[], localDir: string): Promise<void> {
  if (names.length === 0) return;
  await mkdir(localDir, { recursive: true });
  const tar = spawn('tar', ['-C', localDir, '--no-same-owner', '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  const [remote, local] = await Promise.allSettled([
    t.exec(`tar -C ${shellLine([remoteDir])} -cf - -- ${shellLine(names)}`, { stdoutTo: tar.stdin! }),
    processDone(tar, 'tar (unpacking the download)'),
  ]);
  settle(remote, local, t, `copying ${names.join(', ')} from ${remoteDir}`);
}

/** The cluster side's failure says more than the local tar's (which only sees a cut stream), so it wins. */
function settle(remote: PromiseSettledResult<CommandResult>, local: PromiseSettledResult<void>, t: Transport, what: string): void {
  if (remote.status === 'rejected') throw remote.reason;
  if (remote.value.code !== 0)
    throw new ClusterCommandError(`${what} on ${t.label} failed: ${lastLine(remote.value.stderr) || `exit ${remote.value.code}`}`);
  if (local.status === 'rejected') throw local.reason;
}

function processDone(child: ReturnType<typeof spawn>, what: string): Promise<void> {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4096)));
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new StudioError(`${what}: ${e.message} (is tar installed?)`, undefined, 'cluster/tar')));
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new StudioError(`${what} failed: ${lastLine(err) || `exit ${code}`}`, undefined, 'cluster/tar')),
    );
  });
}
