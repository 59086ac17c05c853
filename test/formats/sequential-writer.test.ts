import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withAtomicStream } from '../../main/engine/fs/atomic-write.ts';
import { DIRECT_ALIGN, DIRECT_BUFFER_BYTES } from '../../main/engine/fs/sequential-writer.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'sequential-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** Bytes that differ from place to place (a block written at the wrong offset shows). */
const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (Math.imul(i + seed, 2654435761) >>> 24) & 0xff);

// Sizes around the buffer and block edges, written in pieces of awkward sizes.
const CASES: [string, number, number][] = [
  ['empty', 0, 1],
  ['under one block', 1000, 7],
  ['one block', DIRECT_ALIGN, DIRECT_ALIGN],
  ['exactly one buffer', DIRECT_BUFFER_BYTES, 1 << 20],
  ['two buffers and a tail', 2 * DIRECT_BUFFER_BYTES + DIRECT_ALIGN + 13, 3_000_017],
  ['five buffers in one write', 5 * DIRECT_BUFFER_BYTES - 1, 5 * DIRECT_BUFFER_BYTES],
];

async function writeAndRead(name: string, data: Uint8Array, piece: number): Promise<{ back: Uint8Array; direct: boolean }> {
  const file = path.join(dir, name);
  let direct = false;
  await withAtomicStream(file, async (out) => {
    direct = out.isDirect;
    for (let i = 0; i < data.length; i += piece) await out.write(data.subarray(i, i + piece));
    expect(out.bytesWritten).toBe(data.length);
  });
  return { back: readFileSync(file), direct };
}

describe('a file written front to back (SequentialWriter)', () => {
  it.each(CASES)('%s: the same bytes whether they go past the page cache or through it', async (name, size, piece) => {
    const data = bytesOf(size, size);
    const direct = await writeAndRead(`${name}.direct`, data, piece);
    process.env.LORA_STUDIO_NO_DIRECT_IO = '1';
    try {
      const buffered = await writeAndRead(`${name}.buffered`, data, piece);
      expect(buffered.direct).toBe(false);
      expect(sha(buffered.back)).toBe(sha(data));
    } finally {
      delete process.env.LORA_STUDIO_NO_DIRECT_IO;
    }
    expect(sha(direct.back)).toBe(sha(data));
    // ext4 and xfs take O_DIRECT (a filesystem that refuses it, such as tmpfs, falls back to buffered writes).
    if (process.platform === 'linux' && [0xef53, 0x58465342].includes(statfsSync(dir).type)) expect(direct.direct).toBe(true);
  });

  it('a write that fails half-way leaves no file and no temp file', async () => {
    const file = path.join(dir, 'fails.bin');
    await expect(
      withAtomicStream(file, async (out) => {
        await out.write(bytesOf(DIRECT_BUFFER_BYTES + 5, 1));
        throw new Error('the encoder failed');
      }),
    ).rejects.toThrow('the encoder failed');
    expect(readdirSync(dir).filter((n) => n.includes('fails'))).toEqual([]);
  });
});
