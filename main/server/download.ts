import { createReadStream, realpathSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { ApiError } from '../api/create-api.ts';
import { isPathInside } from '../engine/fs/output-folder.ts';

/** The address the pages link a file to (browser mode): GET, with the token, like the page itself. */
export const DOWNLOAD_PATH = '/download';

/**
 * The file a download asks for, if the studio may hand it out: a regular file inside the runs folder (where the runs
 * and their exports live), links resolved first so none leads outside it. Anything else is refused with the reason.
 */
export function downloadableFile(runsDir: string, requested: string | null): { file: string; bytes: number } {
  if (!requested || !path.isAbsolute(requested))
    throw new ApiError('download: give the absolute path of a file (?path=)', 400, 'download/path');
  let real: string;
  let root: string;
  try {
    real = realpathSync(requested);
    root = realpathSync(runsDir);
  } catch {
    throw new ApiError(`${requested}: no such file`, 404, 'download/missing');
  }
  if (!isPathInside(real, root))
    throw new ApiError(`${requested}: only files in the runs folder can be downloaded`, 400, 'download/outside');
  const stat = statSync(real);
  if (!stat.isFile()) throw new ApiError(`${requested}: not a file`, 400, 'download/not-file');
  return { file: real, bytes: stat.size };
}

/** Send the file as an attachment, streamed (a GGUF can be gigabytes). */
export function sendDownload(res: ServerResponse, file: string, bytes: number, headOnly: boolean): void {
  const name = path.basename(file);
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': bytes,
    // The plain name for old clients (non-ASCII replaced), the exact one as RFC 6266's filename*.
    'Content-Disposition': `attachment; filename="${name.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(name)}`,
  });
  if (headOnly) return void res.end();
  const stream = createReadStream(file);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
