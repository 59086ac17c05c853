import { StudioError } from '../errors.ts';

/** GGUF v3 constants (llama.cpp's gguf.h). */
export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_NAME: a tensor name must be shorter than this many bytes. */
export const GGML_MAX_NAME = 64;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** The ggml tensor types we write and read. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,
}

/** Bytes of one block and values per block for each type. */
export const GGML_BLOCK: Record<GgmlType, { values: number; bytes: number }> = {
  [GgmlType.F32]: { values: 1, bytes: 4 },
  [GgmlType.F16]: { values: 1, bytes: 2 },
  [GgmlType.Q8_0]: { values: 32, bytes: 34 },
};

export function ggmlTensorBytes(type: GgmlType, elements: number): number {
  const b = GGML_BLOCK[type];
  if (elements % b.values !== 0)
    throw new StudioError(
      `a ${GgmlType[type]} tensor needs a multiple of ${b.values} values, got ${elements}; use --format gguf-f16 for this model`,
      undefined,
      'gguf/block',
    );
  return (elements / b.values) * b.bytes;
}

/** A typed key-value pair. Arrays hold one element type. */
export type GgufValue =
  | {
      type: Exclude<
        GgufValueType,
        GgufValueType.ARRAY | GgufValueType.STRING | GgufValueType.BOOL | GgufValueType.UINT64 | GgufValueType.INT64
      >;
      value: number;
    }
  | { type: GgufValueType.UINT64 | GgufValueType.INT64; value: bigint | number }
  | { type: GgufValueType.BOOL; value: boolean }
  | { type: GgufValueType.STRING; value: string }
  | { type: GgufValueType.ARRAY; itemType: GgufValueType; value: (number | string | boolean | bigint)[] };

/** llama.cpp's llama_token_type. */
export enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

/** general.file_type (llama_ftype) for the files we write. */
export const FILE_TYPE = { f32: 0, f16: 1, q8_0: 7 } as const;

export const u32 = (value: number): GgufValue => ({ type: GgufValueType.UINT32, value });
export const f32 = (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value });
export const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });
export const bool = (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value });
export const arr = (itemType: GgufValueType, value: (number | string | boolean)[]): GgufValue => ({
  type: GgufValueType.ARRAY,
  itemType,
  value,
});
