import { execFile } from 'node:child_process';

/** The columns we ask nvidia-smi for, in this order (its `--query-gpu` names). */
export const GPU_QUERY_FIELDS = [
  'index',
  'name',
  'memory.used',
  'memory.total',
  'utilization.gpu',
  'temperature.gpu',
  'power.draw',
] as const;
export const NVIDIA_SMI_ARGS = [`--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export interface GpuStat {
  index: number;
  name: string;
  memoryUsedMiB: number | null;
  memoryTotalMiB: number | null;
  utilizationPercent: number | null;
  temperatureC: number | null;
  powerDrawW: number | null;
}

/** A GPU's memory in bytes (nvidia-smi reports MiB); null where it reports none. */
export function gpuMemoryBytes(g: GpuStat): { totalBytes: number | null; freeBytes: number | null } {
  const mib = 2 ** 20;
  const totalBytes = g.memoryTotalMiB === null ? null : g.memoryTotalMiB * mib;
  const freeBytes = totalBytes === null || g.memoryUsedMiB === null ? null : totalBytes - g.memoryUsedMiB * mib;
  return { totalBytes, freeBytes };
}

/** Why there are no readings: nvidia-smi is absent, lists no GPU, or failed (`detail`: its own words). */
export type NoGpuReason = 'no-nvidia-smi' | 'none-listed' | 'failed';
export type GpuStats =
  { available: true; gpus: GpuStat[] } | { available: false; gpus: []; message: string; reason: NoGpuReason; detail?: string };

/** nvidia-smi writes "[N/A]" or "[Not Supported]" for a reading a GPU does not have: that is null, not 0. */
function reading(field: string): number | null {
  const v = field.trim();
  if (v === '' || v.startsWith('[')) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/**
 * Parse `nvidia-smi --query-gpu=... --format=csv,noheader,nounits` output: one line per GPU, comma + space
 * separated. GPU names contain no commas in nvidia-smi's output, but a line with extra fields is refused anyway.
 */
export function parseNvidiaSmi(text: string): GpuStat[] {
  const gpus: GpuStat[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === '') continue;
    const f = line.split(',');
    if (f.length !== GPU_QUERY_FIELDS.length) {
      throw new Error(`nvidia-smi output line ${i + 1}: expected ${GPU_QUERY_FIELDS.length} fields, got ${f.length}: ${line}`);
    }
    const index = reading(f[0]);
    if (index === null) throw new Error(`nvidia-smi output line ${i + 1}: no GPU index: ${line}`);
    gpus.push({
      index,
      name: f[1].trim(),
      memoryUsedMiB: reading(f[2]),
      memoryTotalMiB: reading(f[3]),
      utilizationPercent: reading(f[4]),
      temperatureC: reading(f[5]),
      powerDrawW: reading(f[6]),
    });
  }
  return gpus;
}

type Exec = (cmd: string, args: string[]) => Promise<string>;

const execNvidiaSmi: Exec = (cmd, args) =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 5000, windowsHide: true }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve(String(stdout));
    });
  });

/** Ask nvidia-smi; when it is absent or fails, say so plainly instead of throwing. */
export async function readGpuStats(exec: Exec = execNvidiaSmi): Promise<GpuStats> {
  let out: string;
  try {
    out = await exec('nvidia-smi', NVIDIA_SMI_ARGS);
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT')
      return { available: false, gpus: [], reason: 'no-nvidia-smi', message: 'No NVIDIA GPU: nvidia-smi was not found on this machine.' };
    const detail = (err.stderr || err.message || '').trim().split('\n')[0];
    return { available: false, gpus: [], reason: 'failed', detail, message: `No NVIDIA GPU readings: nvidia-smi failed (${detail}).` };
  }
  try {
    const gpus = parseNvidiaSmi(out);
    if (gpus.length === 0) return { available: false, gpus: [], reason: 'none-listed', message: 'No NVIDIA GPU: nvidia-smi lists none.' };
    return { available: true, gpus };
  } catch (e) {
    const detail = (e as Error).message;
    return { available: false, gpus: [], reason: 'failed', detail, message: `No NVIDIA GPU readings: ${detail}` };
  }
}
