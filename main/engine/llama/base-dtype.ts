import { StudioError } from '../errors.ts';
import type { TensorListing } from './tensor-listing.ts';
import type { BaseDtype } from './base-dtype-names.ts';
import { projectionPath } from './projections.ts';

// Which storage mode a frozen base gets: what the user asked for, what the checkpoint holds and what the backend can
// run. No tfjs here (the CLI's start-up, the estimate and the wizard use it).

/** The mode that keeps a checkpoint exactly as stored: its projections' dtype. */
export function checkpointBaseDtype(source: TensorListing, where: string): 'f32' | 'bf16' | 'f16' {
  const probe = `${projectionPath(0, 'q_proj')}.weight`;
  const dtype = source.has(probe) ? source.info(probe).dtype : 'F32';
  switch (dtype) {
    case 'F32':
    case 'F64': // held as f32 at most
      return 'f32';
    case 'BF16':
      return 'bf16';
    case 'F16':
      return 'f16';
    default:
      throw new StudioError(
        `the checkpoint's weights are ${dtype} (${probe}), which cannot be read as a full-precision base; give the original F32, F16 or BF16 safetensors (not an already quantized checkpoint)`,
        where,
        'model/checkpoint-dtype',
      );
  }
}

/**
 * Embeddings and lm_head stay 16-bit in the quantized modes, as bitsandbytes leaves lm_head unquantized: the
 * checkpoint's own bf16/f16, or bf16 (f32's range) for an f32 checkpoint. The other modes hold them like the rest.
 */
export function headDtype(mode: BaseDtype, native: 'f32' | 'bf16' | 'f16'): BaseDtype {
  if (mode !== 'int8' && mode !== 'nf4') return mode;
  return native === 'f32' ? 'bf16' : native;
}

/**
 * The candidates `auto` tries, in order: the checkpoint as stored, then int8, then nf4. Every backend runs every
 * mode: host-held matrices dequantized just in time off WebGPU, packed matrices decoded inside the kernel on it.
 */
export function autoCandidates(native: 'f32' | 'bf16' | 'f16'): BaseDtype[] {
  return [native, 'int8', 'nf4'];
}
