/**
 * What the LLaMA facts need to know of a set of tensors: their names, dtypes and shapes. Every TensorSource of
 * formats/ has this shape; the facts take it so that this folder stays below the file formats.
 */
export interface TensorListing {
  list(): { name: string; dtype: string; shape: number[] }[];
  has(name: string): boolean;
  info(name: string): { name: string; dtype: string; shape: number[] };
}
