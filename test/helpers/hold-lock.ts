/**
 * A process that takes a lock (folder-lock.ts) and holds it: `hold-lock.ts <lock file> <hold ms> [command]`. Prints
 * `won <pid>` or `refused <message>` and exits 0 either way, after holding a won lock for the given time. The lock
 * tests start several at once to race them.
 */
import { acquireLock } from '../../main/engine/fs/folder-lock.ts';

const [file, holdMs = '0', command = 'hold-lock'] = process.argv.slice(2);
try {
  const lock = acquireLock(file, file, command);
  console.log(`won ${process.pid}`);
  await new Promise((r) => setTimeout(r, Number(holdMs)));
  lock.release();
} catch (e) {
  console.log(`refused ${(e as Error).message}`);
}
