import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StudioError } from '../engine/errors.ts';
import { formatClusterTarget, type SshTarget } from './cluster-settings.ts';
import { lastLine, runCommand, type CommandResult } from './process.ts';
import type { Transport } from './transport.ts';

/**
 * A cluster reached through the system's `ssh`: ~/.ssh/config (or `-F sshConfig`), the agent, keys and ProxyJump all
 * apply as they do in the user's terminal. BatchMode: a refused key or an unknown host key fails at once with ssh's own
 * line instead of a password prompt nobody would see. One connection serves all commands of a transport (ssh's
 * ControlMaster on a private socket, ended by close()), unless the user's config already shares connections (a
 * two-factor site's ControlMaster), which is then used as it is.
 */
export class SshConnectionError extends StudioError {
  constructor(message: string, code = 'cluster/ssh') {
    super(message, undefined, code);
    this.name = 'SshConnectionError';
  }
}

export interface SshTransportOptions {
  /** A client config file used instead of ~/.ssh/config (ssh -F). */
  sshConfig?: string;
  /** Share one connection between commands (default true). */
  reuseConnection?: boolean;
  /** Seconds a shared connection stays open after its last command when close() is never called (a crash). */
  persistSeconds?: number;
}

let controlCounter = 0;

export async function sshTransport(target: SshTarget, opts: SshTransportOptions = {}): Promise<Transport> {
  const label = formatClusterTarget(target);
  const host = target.host.replace(/^\[(.*)\]$/, '$1'); // ssh takes an IPv6 address bare
  const base = [
    ...(opts.sshConfig ? ['-F', opts.sshConfig] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=20',
    // A dead network ends a command within a minute instead of hanging a follow forever.
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=4',
    ...(target.port ? ['-p', String(target.port)] : []),
    ...(target.user ? ['-l', target.user] : []),
  ];
  // What the user types to try the same connection (for error messages).
  const typed = [
    'ssh',
    ...(opts.sshConfig ? ['-F', opts.sshConfig] : []),
    ...(target.port ? ['-p', String(target.port)] : []),
    target.user ? `${target.user}@${host}` : host,
  ].join(' ');

  let control: string[] = [];
  let ownSocket: string | undefined;
  if (opts.reuseConnection !== false && !(await userSharesConnections(base, host))) {
    const dir = path.join(tmpdir(), `lora-studio-ssh-${process.getuid?.() ?? 'u'}`);
    const socket = path.join(dir, `${process.pid}-${++controlCounter}-%C`);
    // A unix socket's path is limited to ~104 bytes; %C expands to 40 characters.
    if (socket.length + 38 < 100) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      ownSocket = socket;
      control = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${socket}`, '-o', `ControlPersist=${opts.persistSeconds ?? 60}`];
    }
  }

  const exec: Transport['exec'] = async (command, runOpts = {}) => {
    let r: CommandResult;
    try {
      r = await runCommand('ssh', [...base, ...control, '--', host, command], runOpts);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new SshConnectionError('no ssh client on this machine: install OpenSSH (openssh-client)', 'cluster/no-ssh');
      throw e;
    }
    if (r.code === 255) throw sshProblem(r.stderr, label, typed);
    return r;
  };

  return {
    label,
    exec,
    close: async () => {
      if (!ownSocket) return;
      // Ends only this transport's own master (its socket is private to this process); a no-op if none started.
      await runCommand('ssh', [...base, ...control, '-O', 'exit', '--', host], { timeoutMs: 10_000 }).catch(() => undefined);
    },
  };
}

/** Whether the user's ssh config already shares connections to this host (ControlPath set): then we use theirs. */
async function userSharesConnections(base: string[], host: string): Promise<boolean> {
  const r = await runCommand('ssh', [...base, '-G', '--', host], { timeoutMs: 10_000 }).catch(() => undefined);
  if (!r || r.code !== 0) return false; // a config ssh cannot read fails again, with its message, on the first command
  const controlPath = /^controlpath (.+)$/m.exec(r.stdout.toString('utf8'))?.[1]?.trim();
  return controlPath !== undefined && controlPath !== 'none';
}

/** ssh's own failure (exit 255) as one line that says what to do. */
function sshProblem(stderr: string, label: string, typed: string): SshConnectionError {
  const line = lastLine(
    stderr
      .split('\n')
      .filter((l) => !/^Warning: Permanently added/.test(l))
      .join('\n'),
  );
  if (/Permission denied \(/.test(stderr))
    return new SshConnectionError(
      `${label}: the server refused the login (${line}); check that \`${typed}\` logs in without a password prompt (ssh-add your key, or set IdentityFile in ~/.ssh/config)`,
      'cluster/ssh-refused',
    );
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No (?:ED25519|RSA|ECDSA)? ?host key is known/.test(stderr))
    return new SshConnectionError(
      `${label}: the cluster's host key is not known here or has changed (${line}); run \`${typed}\` once in a terminal to check and accept it`,
      'cluster/ssh-host-key',
    );
  if (/Could not resolve hostname|Name or service not known|nodename nor servname/.test(stderr))
    return new SshConnectionError(`${label}: the host name does not resolve (${line})`, 'cluster/ssh-unreachable');
  if (
    /Connection refused|Connection timed out|timed out|No route to host|Network is unreachable|Connection closed|Connection reset|kex_exchange_identification|Broken pipe|Timeout, server/.test(
      stderr,
    )
  )
    return new SshConnectionError(`cannot reach ${label}: ${line}`, 'cluster/ssh-unreachable');
  if (/^ssh: |^Bad configuration option|^command-line line|Can't open user config file|^no argument after keyword/m.test(stderr))
    return new SshConnectionError(`${label}: ssh failed: ${line}`, 'cluster/ssh');
  // 255 is ssh's own status ("or 255 if an error occurred", ssh(1)); a shared connection that dies mid-command can end
  // so with no message of ours above (or none at all). Our remote commands never exit 255 themselves: the connection
  // was lost, and a follow tries again.
  return new SshConnectionError(`cannot reach ${label}: ssh exited 255${line ? ` (${line})` : ''}`, 'cluster/ssh-unreachable');
}
