// The names of the frozen base's storage modes: Node-free and tiny, so the contract and the renderer can use them
// without the quantizers (block-quant.ts).

/** How the frozen base is held: the checkpoint's precision, 16-bit, blockwise int8 (LLM.int8-like) or NF4 (QLoRA). */
export const BASE_DTYPES = ['f32', 'bf16', 'f16', 'int8', 'nf4'] as const;
export type BaseDtype = (typeof BASE_DTYPES)[number];

/** The `base_dtype` setting: a storage mode, or auto (the checkpoint's own precision when it fits, else int8, else nf4). */
export const BASE_DTYPE_CHOICES = ['auto', ...BASE_DTYPES] as const;
export type BaseDtypeChoice = (typeof BASE_DTYPE_CHOICES)[number];
