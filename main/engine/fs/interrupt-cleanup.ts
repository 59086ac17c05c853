/**
 * What a process must undo if it is interrupted (SIGINT, SIGTERM) before it finishes: remove its temp folders and
 * release its locks. Writers register a synchronous cleanup while they work and unregister it when done; the CLI
 * and the job worker run whatever is registered when a signal ends them. A SIGKILL runs nothing: then the next
 * writer of that output removes the leftovers (they are named after the output) and takes over the stale lock.
 */
const cleanups = new Map<number, () => void>();
let next = 0;

/** Register `cleanup`; the returned function unregisters it. */
export function onInterrupt(cleanup: () => void): () => void {
  const id = next++;
  cleanups.set(id, cleanup);
  return () => cleanups.delete(id);
}

/** Run every registered cleanup, newest first (temp folders before the locks that guard them). Returns how many ran. */
export function runInterruptCleanups(): number {
  const all = [...cleanups.entries()].reverse();
  cleanups.clear();
  for (const [, cleanup] of all) {
    try {
      cleanup();
    } catch {
      // best effort: the next writer removes what is left
    }
  }
  return all.length;
}
