import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FormatError } from '../../main/engine/errors.ts';
import { DTYPE_BYTES } from '../../main/engine/formats/dtypes.ts';
import {
  buildHeader,
  MAX_HEADER_BYTES,
  openSafetensors,
  parseSafetensorsHeader,
  type ParsedHeader,
  type TensorToWrite,
} from '../../main/engine/formats/safetensors.ts';
import type { DType } from '../../main/engine/formats/tensor-source.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * Property tests: whatever bytes a reader is handed, it either accepts a header whose tensors tile the file
 * exactly, or throws a FormatError. Any other exception (TypeError, RangeError, an allocation failure) fails.
 */
const dir = workFolder('st-fuzz');
const enc = new TextEncoder();
const DTYPES = Object.keys(DTYPE_BYTES) as DType[];

function withPrefix(header: Uint8Array, data: Uint8Array, declared: bigint = BigInt(header.length)): Uint8Array {
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared, true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/** Parse, and when the parser accepts, check that what it accepted obeys every rule. */
function check(bytes: Uint8Array): ParsedHeader | undefined {
  let h: ParsedHeader;
  try {
    h = parseSafetensorsHeader(bytes, bytes.length, 'fuzz.safetensors');
  } catch (e) {
    if (e instanceof FormatError && e.message.startsWith('fuzz.safetensors: ') && e.code.startsWith('safetensors/')) return undefined;
    throw e;
  }
  expect(h.dataOffset).toBe(8 + h.headerSize);
  let total = 0;
  const spans = h.entries.map((e) => [e.begin, e.end]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (const [b, e] of spans) {
    expect(b).toBe(total);
    total = e;
  }
  expect(h.dataOffset + total).toBe(bytes.length);
  for (const e of h.entries) expect(e.end - e.begin).toBe(e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype]);
  return h;
}

/** A valid file of random tensors, built with the writer's header code. */
const validFile = fc
  .uniqueArray(
    fc.record({
      name: fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.constantFrom('model.norm.weight', 'a', 'é✓', '"q"', '\\')),
      dtype: fc.constantFrom(...DTYPES),
      shape: fc.array(fc.nat(4), { maxLength: 3 }),
    }),
    { selector: (t) => t.name, maxLength: 5 },
  )
  .filter((ts) => ts.every((t) => t.name !== '__metadata__'))
  .map((ts) => {
    const tensors: TensorToWrite[] = ts.map((t) => ({ ...t, data: new Uint8Array(0) }));
    const { header, dataBytes } = buildHeader(tensors, { format: 'pt' });
    const data = new Uint8Array(dataBytes).map((_, i) => i & 0xff);
    return { tensors, text: new TextDecoder().decode(header).trimEnd(), data, bytes: withPrefix(header, data) };
  });

describe('safetensors reader under fuzzing', () => {
  it('accepts every file the writer can produce, with the same tensors', () => {
    fc.assert(
      fc.property(validFile, ({ tensors, bytes }) => {
        const h = check(bytes);
        expect(h).toBeDefined();
        expect(h!.entries.map((e) => [e.name, e.dtype, e.shape])).toEqual(
          [...tensors].sort((a, b) => (a.name < b.name ? -1 : 1)).map((t) => [t.name, t.dtype, t.shape]),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('throws only FormatError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => void check(b)),
      { numRuns: 3000 },
    );
    // A plausible header length in front of random bytes reaches the JSON and entry checks more often.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.boolean(), (body, n, exact) => {
        void check(withPrefix(body, new Uint8Array(0), exact ? BigInt(body.length) : n));
      }),
      { numRuns: 3000 },
    );
  });

  it('throws only FormatError on mutated valid files (bit flips, byte edits, truncation, extension)', () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('grow' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
    );
    fc.assert(
      fc.property(validFile, fc.array(mutation, { minLength: 1, maxLength: 4 }), ({ bytes }, edits) => {
        let b = bytes.slice();
        for (const m of edits) {
          if (m.kind === 'flip' && b.length) b[m.at % b.length] ^= 1 << m.bit;
          else if (m.kind === 'set' && b.length) b[m.at % b.length] = m.value;
          else if (m.kind === 'cut') b = b.slice(0, m.at % (b.length + 1));
          else if (m.kind === 'grow') b = Uint8Array.from([...b, ...m.extra]);
        }
        void check(b);
      }),
      { numRuns: 4000 },
    );
  });

  it('throws only FormatError on header text edits (numbers, dtypes, keys, structure)', () => {
    const numbers = fc.oneof(
      fc.integer({ min: -5, max: 40 }).map(String),
      fc.constantFrom('1e400', '-0', '1.5', '9007199254740993', '18446744073709551616', 'null', '"4"', 'true', '[]', '{}'),
    );
    fc.assert(
      fc.property(
        validFile,
        fc.nat(),
        numbers,
        fc.constantFrom('F32', 'F8_E5M2', 'Q8_0', 'f32', ''),
        fc.nat(3),
        ({ text: original, data }, at, num, dtype, how) => {
          let text = original;
          if (how === 0) {
            // Replace the k-th number.
            let k = 0;
            const nth = at % Math.max(1, (text.match(/\d+/g) ?? []).length);
            text = text.replace(/\d+/g, (m) => (k++ === nth ? num : m));
          } else if (how === 1) text = text.replace(/"dtype":"[A-Z0-9_]+"/, `"dtype":"${dtype}"`);
          else if (how === 2) text = text.replace(/"(data_offsets|shape|dtype)"/, (m) => (at % 2 ? '"x"' : m + ':0,' + m));
          else
            text = text.slice(0, at % (text.length + 1)) + ['{', '}', '[', ']', ',', '"', ':'][at % 7] + text.slice(at % (text.length + 1));
          void check(withPrefix(enc.encode(text), data));
        },
      ),
      { numRuns: 4000 },
    );
  });

  it('gives the same answer from disk, never allocating for a bogus declared length', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 8, maxLength: 64 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), async (body, n) => {
        const bytes = withPrefix(body, new Uint8Array(0), n);
        const p = path.join(dir, 'f.safetensors');
        writeFileSync(p, bytes);
        const err = await openSafetensors(p).then(
          async (f) => void (await f.close()),
          (e: unknown) => e,
        );
        const pure = (() => {
          try {
            parseSafetensorsHeader(bytes, bytes.length, p);
          } catch (e) {
            return e;
          }
        })();
        expect((err as FormatError | undefined)?.code).toBe((pure as FormatError | undefined)?.code);
        if (err) expect(err).toBeInstanceOf(FormatError);
      }),
      { numRuns: 300 },
    );
    // A 24-byte file declaring a header just under the 100 MB limit: rejected before a buffer that size exists.
    const p = path.join(dir, 'liar.safetensors');
    writeFileSync(p, withPrefix(enc.encode('{}'), new Uint8Array(14), BigInt(MAX_HEADER_BYTES - 1)));
    const before = process.memoryUsage().arrayBuffers;
    await expect(openSafetensors(p)).rejects.toMatchObject({ code: 'safetensors/header-beyond-file' });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MAX_HEADER_BYTES / 4);
  });
});
