// Preloaded with --import into a child process: on exit, print the process's peak RSS (VmHWM from /proc) to stderr.
import { readFileSync, writeSync } from 'node:fs';

process.on('exit', () => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (m) writeSync(2, `\nVmHWM_BYTES=${Number(m[1]) * 1024}\n`);
});
