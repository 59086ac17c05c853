import { homedir } from 'node:os';
import { runCommand } from './process.ts';
import type { Transport } from './transport.ts';

/** `--cluster local`: this machine is the login node; commands run in /bin/sh from the home folder, as over ssh. */
export function localTransport(env: NodeJS.ProcessEnv = process.env): Transport {
  return {
    label: 'local',
    exec: (command, opts = {}) => runCommand('/bin/sh', ['-c', command], { ...opts, cwd: homedir(), env }),
    close: async () => undefined,
  };
}
