/** LoRA's scale: alpha / r, or alpha / √r with rsLoRA. (No tfjs: the merge uses it too.) */
export function loraScale(s: { r: number; alpha: number; useRslora: boolean }): number {
  return s.useRslora ? s.alpha / Math.sqrt(s.r) : s.alpha / s.r;
}
