import { FormatError } from '../errors.ts';
import { DTYPE_BYTES, isDType, SPEC_ONLY_DTYPES } from './dtypes.ts';
import type { DType, TensorInfo } from './tensor-source.ts';

/**
 * Headers beyond this are refused before any allocation. The reference implementation
 * (huggingface/safetensors, `MAX_HEADER_SIZE`) uses 100_000_000 bytes; we match it exactly.
 */
export const MAX_HEADER_BYTES = 100_000_000;

export interface HeaderEntry extends TensorInfo {
  /** [begin, end) relative to the data buffer. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  /** N: the header's byte length as declared in the first 8 bytes (padding included). */
  headerSize: number;
  /** Where the data buffer starts in the file: 8 + N. */
  dataOffset: number;
  /** Sorted by name. */
  entries: HeaderEntry[];
  metadata: Record<string, string>;
}

/** The header length a file declares, or undefined when it is under 8 bytes. Never allocates. */
export function declaredHeaderSize(prefix: Uint8Array): bigint | undefined {
  if (prefix.byteLength < 8) return undefined;
  return new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
}

/**
 * Parse and check a safetensors header. `bytes` holds at least the first 8 + N bytes of the file (or all of it);
 * `fileSize` is the whole file's length. Every rule of the format is enforced; the first broken one is thrown
 * as a FormatError whose code is `safetensors/<rule>` and whose message names `file` (and the tensor).
 */
export function parseSafetensorsHeader(bytes: Uint8Array, fileSize: number, file: string): ParsedHeader {
  const fail = (code: string, msg: string): never => {
    throw new FormatError(msg, file, `safetensors/${code}`);
  };
  const n = declaredHeaderSize(bytes);
  if (fileSize < 8 || n === undefined)
    return fail('too-short', `file is ${fileSize} bytes; a safetensors file starts with an 8-byte header length`);
  // Both checks use the declared length before anything is allocated for it.
  if (n > BigInt(MAX_HEADER_BYTES)) fail('header-too-large', `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerSize = Number(n);
  if (8 + headerSize > fileSize) fail('header-beyond-file', `header length ${headerSize} runs past the end of the ${fileSize}-byte file`);
  if (bytes.byteLength < 8 + headerSize) fail('short-read', `only ${bytes.byteLength - 8} of the ${headerSize} header bytes could be read`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerSize));
  } catch {
    return fail('header-not-utf8', 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail('header-not-json', `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(json)) return fail('header-shape', 'header must be a JSON object of tensors');
  const duplicate = findDuplicateKey(text);
  if (duplicate) fail('duplicate-key', `header names ${duplicate.map((k) => JSON.stringify(k)).join(' → ')} twice`);

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (raw === null) continue; // the reference reader treats a null __metadata__ as absent
      if (!isObject(raw)) return fail('metadata', '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw))
        if (typeof v !== 'string') fail('metadata', `__metadata__.${k} is ${JSON.stringify(v)}, not a string`);
      // fromEntries defines own properties, so a "__proto__" key stays data.
      metadata = Object.fromEntries(Object.entries(raw)) as Record<string, string>;
      continue;
    }
    entries.push(checkEntry(name, raw, fail));
  }

  // Offsets must tile the buffer from 0 with no gap or overlap, and the buffer must end where the file does.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of byOffset) {
    if (e.begin !== cursor) {
      if (cursor === 0) fail('offset-start', `tensor ${e.name}: the first tensor's data starts at ${e.begin}, not at 0`);
      const kind = e.begin > cursor ? 'gap' : 'overlap';
      fail(kind, `tensor ${e.name}: data starts at ${e.begin} but the previous tensor ends at ${cursor} (${kind})`);
    }
    cursor = e.end;
  }
  const dataOffset = 8 + headerSize;
  const dataSize = fileSize - dataOffset;
  if (cursor < dataSize) fail('trailing-bytes', `${dataSize - cursor} bytes follow the last tensor`);
  if (cursor > dataSize) fail('truncated', `the header describes ${cursor} bytes of data but the file holds ${dataSize}`);
  entries.sort((a, b) => compareNames(a.name, b.name));
  return { headerSize, dataOffset, entries, metadata };
}

function checkEntry(name: string, raw: unknown, fail: (code: string, msg: string) => never): HeaderEntry {
  if (!isObject(raw)) return fail('tensor-entry', `tensor ${name}: entry must be an object {dtype, shape, data_offsets}`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string') return fail('tensor-entry', `tensor ${name}: dtype is missing or not a string`);
  if (SPEC_ONLY_DTYPES.has(dtype))
    return fail('unsupported-dtype', `tensor ${name}: dtype ${dtype} is valid safetensors but not supported here`);
  if (!isDType(dtype)) return fail('unknown-dtype', `tensor ${name}: unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    return fail('shape', `tensor ${name}: shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
  }
  let elements = 1;
  for (const d of shape as number[]) {
    elements *= d;
    if (!Number.isSafeInteger(elements)) fail('overflow', `tensor ${name}: element count of shape [${shape.join(', ')}] overflows`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) {
    return fail('offsets', `tensor ${name}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] with non-negative integers`);
  }
  // `+ 0` turns a JSON "-0" into 0, which is what every other reader sees.
  const [begin, end] = (offsets as number[]).map((o) => o + 0);
  const bytesNeeded = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytesNeeded)) fail('overflow', `tensor ${name}: byte size of ${dtype} [${shape.join(', ')}] overflows`);
  if (end < begin || end - begin !== bytesNeeded) {
    fail(
      'size-mismatch',
      `tensor ${name}: data_offsets [${begin}, ${end}) hold ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${bytesNeeded}`,
    );
  }
  return { name, dtype: dtype as DType, shape: (shape as number[]).map((d) => d + 0), begin, end };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Code-unit order, the same on every platform (localeCompare is not). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The path of the first key that appears twice in the same JSON object, at any depth (JSON.parse keeps the
 * last one silently, so a file could show one reader one tensor and another reader another).
 * `text` is already known to be valid JSON, so a small scanner suffices.
 */
export function findDuplicateKey(text: string): string[] | undefined {
  // One frame per open object or array: objects track their keys and the member being read.
  const stack: { keys?: Set<string>; current?: string }[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top?.keys) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return [...stack.filter((f) => f.keys && f !== top).map((f) => f.current!), key];
        top.keys.add(key);
        top.current = key;
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) {
      stack.push({ keys: new Set() });
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push({});
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1]?.keys !== undefined;
    }
  }
  return undefined;
}
