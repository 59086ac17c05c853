/** LoRA's scale: alpha / r, or alpha / √r with rsLoRA. (No tfjs: the merge uses it too.) */
export function loraScale(s: { r: number; alpha: number; useRslora: boolean }): number {
  return s.useRslora ? s.alpha / Math.sqrt(s.r) : s.alpha / s.r;
}

/**
 * The LoRA scales the studio accepts. Published recipes use alpha / r from 0.5 to 4 (Alpaca-LoRA 16 / 8 = 2, rsLoRA
 * up to ~16); a scale of 1000 already multiplies a trained update into weights far outside any base's range, and
 * 1e-4 makes the adapter vanish in a 16-bit base. Beyond them the figure is a typo (lora_alpha 1e39 merged into
 * weights near 1e36 without a word), so it is refused.
 */
const LORA_SCALE_RANGE = { min: 1e-4, max: 1e3 } as const;

/** Why a scale is refused, with the figure, or undefined when it lies in LORA_SCALE_RANGE. */
export function checkLoraScale(s: { r: number; alpha: number; useRslora: boolean }): string | undefined {
  const scale = loraScale(s);
  const { min, max } = LORA_SCALE_RANGE;
  if (Number.isFinite(scale) && scale >= min && scale <= max) return undefined;
  const formula = s.useRslora ? `lora_alpha ${s.alpha} / √r (r ${s.r}, rsLoRA)` : `lora_alpha ${s.alpha} / r ${s.r}`;
  return `the LoRA scale ${formula} = ${scale.toPrecision(3)} is outside the range LoRA Studio accepts (${min} to ${max}; alpha / r is usually 0.5 to 4)`;
}
