import { readdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StudioError } from '../engine/errors.ts';
import { withReadTimeout } from '../engine/fs/regular-file.ts';

interface FolderListing {
  dir: string;
  parent: string | null;
  entries: { name: string; path: string; kind: 'folder' | 'file'; bytes?: number }[];
}

/**
 * One folder's visible entries, folders first, for browser mode's picker (a page cannot open the server's native
 * dialog). Hidden entries are left out; entries that cannot be read (broken links, no permission) are skipped.
 * Read asynchronously, with a time limit: a folder on a hung network drive cannot stall the studio.
 */
export async function listFolder(dir = os.homedir()): Promise<FolderListing> {
  const abs = path.resolve(dir);
  let names: string[];
  try {
    names = await withReadTimeout(readdir(abs), abs);
  } catch (e) {
    throw new StudioError(`cannot list this folder: ${(e as Error).message}`, abs, 'files/list');
  }
  const entries: FolderListing['entries'] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const full = path.join(abs, name);
    try {
      const st = await withReadTimeout(stat(full), full);
      if (st.isDirectory()) entries.push({ name, path: full, kind: 'folder' });
      else if (st.isFile()) entries.push({ name, path: full, kind: 'file', bytes: st.size });
    } catch {
      // unreadable: not something the user can pick
    }
  }
  entries.sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'folder' ? -1 : 1));
  const parent = path.dirname(abs);
  return { dir: abs, parent: parent === abs ? null : parent, entries };
}
