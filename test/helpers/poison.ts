import { closeSync, cpSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openSafetensors } from '../../main/engine/formats/safetensors.ts';

/**
 * A copy of a model or adapter folder whose `file` holds `values` at the given element indexes of F32 tensor `tensor`:
 * real NaN and Inf (or any value) written into the bytes, the header untouched. Only the header is read to place them.
 */
export async function poisonedCopy(
  from: string,
  to: string,
  file: string,
  tensor: string,
  values: [index: number, value: number][],
): Promise<string> {
  cpSync(from, to, { recursive: true });
  const target = path.join(to, file);
  const f = await openSafetensors(target);
  const [start] = f.byteRange(tensor);
  if (f.info(tensor).dtype !== 'F32') throw new Error(`${tensor} is ${f.info(tensor).dtype}; poisonedCopy writes F32 values`);
  await f.close();
  const fd = openSync(target, 'r+');
  try {
    for (const [index, value] of values) {
      const b = Buffer.alloc(4);
      b.writeFloatLE(value);
      writeSync(fd, b, 0, 4, start + 4 * index);
    }
  } finally {
    closeSync(fd);
  }
  return to;
}
