import { appendFile, mkdir, stat, truncate } from 'node:fs/promises';
import path from 'node:path';
import { shellQuote } from './shell-quote.ts';
import { lastLine } from './process.ts';
import { ClusterCommandError, type Transport } from './transport.ts';

/**
 * Local copies of files the job is still writing (metrics.jsonl, SLURM's stdout and stderr), kept as byte-exact
 * prefixes of the remote files: a copy's own size is where the next read starts, so a new process, or a follow after
 * a dropped connection, goes on from where the last one stopped with nothing to remember. One command per poll reads
 * the new bytes of every file. A file read as whole lines (metrics.jsonl) only ever gets complete lines, so its
 * readers never see a line the trainer is still writing.
 */
export interface MirroredFile {
  name: 'metrics' | 'stdout' | 'stderr';
  remote: string;
  local: string;
  wholeLines: boolean;
}

export interface MirrorUpdate {
  file: MirroredFile;
  /** The new bytes appended to the local copy. */
  text: string;
  /** The remote file got shorter than the copy (replaced): the copy was emptied and is read again from the start. */
  restarted: boolean;
}

/** At most this much of one file per poll (a huge log arrives over several polls). */
const CHUNK = 8 * 1024 * 1024;

/** The shell function that prints `@@SIZE COUNT` and then COUNT bytes of FILE from OFFSET (SIZE -1: no file). */
const READ_FROM = [
  'r() {',
  ' if [ -f "$2" ]; then s=$(wc -c < "$2" | tr -d " "); else s=-1; fi;',
  ` if [ "$s" -gt "$1" ]; then n=$((s - $1)); if [ "$n" -gt ${CHUNK} ]; then n=${CHUNK}; fi; else n=0; fi;`,
  ' printf "@@%s %s\\n" "$s" "$n";',
  ' if [ "$n" -gt 0 ]; then tail -c +$(($1 + 1)) -- "$2" | head -c "$n"; fi;',
  '}',
].join('');

async function sizeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}

/** Bring every local copy up to its remote file; returns what each gained. */
export async function syncMirrors(t: Transport, files: MirroredFile[]): Promise<MirrorUpdate[]> {
  const offsets = await Promise.all(files.map((f) => sizeOf(f.local)));
  const command = [READ_FROM, ...files.map((f, i) => `r ${offsets[i]} ${shellQuote(f.remote)}`)].join('; ');
  const r = await t.exec(command, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new ClusterCommandError(`reading the job's files on ${t.label} failed (exit ${r.code}): ${lastLine(r.stderr)}`);
  const out = r.stdout;
  const updates: MirrorUpdate[] = [];
  let at = 0;
  for (const [i, file] of files.entries()) {
    const eol = out.indexOf(0x0a, at);
    const header = /^@@(-?\d+) (\d+)$/.exec(out.subarray(at, eol).toString('latin1'));
    if (eol < 0 || !header) break; // a cut answer: the next poll reads again from the same offsets
    const size = Number(header[1]);
    const count = Number(header[2]);
    const data = out.subarray(eol + 1, eol + 1 + count);
    at = eol + 1 + count;
    if (data.length < count) break;
    if (size >= 0 && size < offsets[i]) {
      await truncate(file.local, 0);
      updates.push({ file, text: '', restarted: true });
      continue;
    }
    const keep = file.wholeLines ? data.subarray(0, data.lastIndexOf(0x0a) + 1) : data;
    if (keep.length === 0) continue;
    await mkdir(path.dirname(file.local), { recursive: true });
    await appendFile(file.local, keep);
    updates.push({ file, text: keep.toString('utf8'), restarted: false });
  }
  return updates;
}
