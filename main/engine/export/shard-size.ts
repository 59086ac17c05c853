import { StudioError } from '../errors.ts';

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** transformers' max_shard_size: "400MB", "2GB" (powers of 10), "5GiB" (powers of 2), or a byte count. */
export function parseShardSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?\s*$/i.exec(text);
  if (!m) throw new StudioError(`max_shard_size "${text}" is not a size like 400MB, 2GB or 5GiB`);
  const bytes = Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'B').toUpperCase()]);
  if (bytes <= 0) throw new StudioError(`max_shard_size "${text}" must be more than 0 bytes`);
  return bytes;
}

/**
 * Group tensors (in order) into shards of at most `maxBytes` of tensor data, as transformers does: a tensor larger
 * than the limit gets a shard of its own.
 */
export function planShards<T extends { bytes: number }>(tensors: T[], maxBytes: number): T[][] {
  const shards: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const t of tensors) {
    if (current.length && size + t.bytes > maxBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(t);
    size += t.bytes;
  }
  if (current.length) shards.push(current);
  return shards;
}
