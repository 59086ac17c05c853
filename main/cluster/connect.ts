import { StudioError } from '../engine/errors.ts';
import { parseClusterTarget, type ClusterConnection } from './cluster-settings.ts';
import { localTransport } from './local-transport.ts';
import { sshTransport } from './ssh-transport.ts';
import type { Transport } from './transport.ts';

/** The transport a connection setting names. `env`: the environment of local commands (SLURM_CONF, PATH). */
export async function openTransport(connection: ClusterConnection, env: NodeJS.ProcessEnv = process.env): Promise<Transport> {
  const target = parseClusterTarget(connection.cluster);
  if (typeof target === 'string') throw new StudioError(`--cluster: ${target}`, undefined, 'cluster/target');
  if (target.kind === 'local') {
    if (connection.ssh_config) throw new StudioError('--ssh_config applies to ssh:// clusters only', undefined, 'cluster/target');
    return localTransport(env);
  }
  return sshTransport(target, { sshConfig: connection.ssh_config });
}
