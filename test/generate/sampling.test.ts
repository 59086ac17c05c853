import { describe, expect, it } from 'vitest';
import { applyRepetitionPenalty, argmax, sampleToken } from '../../main/engine/generate/sampling.ts';

function sequenceRandom(values: number[]) {
  let i = 0;
  return () => values[i++ % values.length];
}

describe('sampling', () => {
  const logits = Float32Array.from([1, 3, 2, 0.5]);

  it('greedy takes the argmax (first on ties)', () => {
    expect(argmax([1, 5, 5, 2])).toBe(1);
    expect(sampleToken(logits, { temperature: 0, topK: 0, topP: 1, repetitionPenalty: 1 }, [], () => 0.9)).toBe(1);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens (HF)', () => {
    const l = Float32Array.from([2, -2, 1]);
    applyRepetitionPenalty(l, [0, 1, 1], 2);
    expect([...l]).toEqual([1, -4, 1]);
  });

  it('top-k 1 is greedy whatever the draw', () => {
    for (const r of [0, 0.5, 0.999])
      expect(sampleToken(logits, { temperature: 1, topK: 1, topP: 1, repetitionPenalty: 1 }, [], () => r)).toBe(1);
  });

  it('top-p keeps the smallest head reaching p', () => {
    // softmax([1,3,2,0.5]) ≈ [0.0854, 0.6308, 0.2321, 0.0518]: p = 0.7 keeps tokens 1 and 2.
    const opts = { temperature: 1, topK: 0, topP: 0.7, repetitionPenalty: 1 };
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(sampleToken(logits, opts, [], sequenceRandom([i / 50])));
    expect([...seen].sort()).toEqual([1, 2]);
  });

  it('draws in proportion to the probabilities', () => {
    const opts = { temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };
    // The cumulative boundaries of the sorted distribution decide the draw.
    expect(sampleToken(logits, opts, [], () => 0.6)).toBe(1);
    expect(sampleToken(logits, opts, [], () => 0.7)).toBe(2);
    expect(sampleToken(logits, opts, [], () => 0.9)).toBe(0);
    expect(sampleToken(logits, opts, [], () => 0.99)).toBe(3);
  });
});
