import { dispatchSeconds, type DispatchRecord, type Machine } from './dispatch-cost.ts';

/** One program's share of a step. */
export interface ProgramTotals {
  program: string;
  dispatches: number;
  flops: number;
  bytes: number;
  /** Predicted seconds on the machine: each dispatch's roofline time, summed. */
  seconds: number;
}

export interface StepProfile {
  dispatches: number;
  flops: number;
  bytes: number;
  seconds: number;
  /** The step time split by bound: dispatch overheads, arithmetic-bound and memory-bound dispatches. */
  overheadSeconds: number;
  programs: ProgramTotals[];
}

/** Sum a step's dispatches by program, each timed by the roofline of `machine`. */
export function profileStep(records: DispatchRecord[], machine: Machine): StepProfile {
  const byProgram = new Map<string, ProgramTotals>();
  for (const r of records) {
    const p = byProgram.get(r.program) ?? { program: r.program, dispatches: 0, flops: 0, bytes: 0, seconds: 0 };
    p.dispatches++;
    p.flops += r.flops;
    p.bytes += r.bytes;
    p.seconds += dispatchSeconds(r, machine);
    byProgram.set(r.program, p);
  }
  return totals([...byProgram.values()], machine);
}

/**
 * A model of `layers` layers from steps profiled on 1 and 2 layers: every layer does the same work, so one layer's
 * share is the difference, and the rest (embedding, head, loss, optimizer) is what the 1-layer step does besides.
 * Per program: one + (layers − 1) · (two − one).
 */
export function scaleToLayers(one: StepProfile, two: StepProfile, layers: number, machine: Machine): StepProfile {
  const names = new Set([...one.programs, ...two.programs].map((p) => p.program));
  const zero = (program: string): ProgramTotals => ({ program, dispatches: 0, flops: 0, bytes: 0, seconds: 0 });
  const programs = [...names].map((name) => {
    const a = one.programs.find((p) => p.program === name) ?? zero(name);
    const b = two.programs.find((p) => p.program === name) ?? zero(name);
    const at = (k: 'dispatches' | 'flops' | 'bytes' | 'seconds') => a[k] + (layers - 1) * (b[k] - a[k]);
    return { program: name, dispatches: at('dispatches'), flops: at('flops'), bytes: at('bytes'), seconds: at('seconds') };
  });
  return totals(programs, machine);
}

function totals(programs: ProgramTotals[], machine: Machine): StepProfile {
  programs.sort((a, b) => b.seconds - a.seconds);
  const sum = (k: 'dispatches' | 'flops' | 'bytes' | 'seconds') => programs.reduce((n, p) => n + p[k], 0);
  const dispatches = sum('dispatches');
  return {
    dispatches,
    flops: sum('flops'),
    bytes: sum('bytes'),
    seconds: sum('seconds'),
    overheadSeconds: dispatches * machine.dispatchSeconds,
    programs,
  };
}

/** The lines `bench gpu-profile` prints for one step. */
export function describeStep(title: string, s: StepProfile, tokens: number, machine: Machine): string[] {
  const ms = (x: number) => `${(x * 1000).toFixed(x < 0.01 ? 2 : 1)} ms`;
  const lines = [
    `${title}`,
    `  ${s.dispatches} dispatches, ${(s.flops / 1e12).toFixed(3)} TFLOP, ${(s.bytes / 1e9).toFixed(2)} GB moved`,
    `  predicted step: ${ms(s.seconds)} = ${ms(s.overheadSeconds)} dispatch overhead + ${ms(s.seconds - s.overheadSeconds)} compute/memory ` +
      `→ ${(tokens / s.seconds).toFixed(0)} tokens/s (at ${(machine.flopsPerSecond / 1e12).toFixed(1)} TFLOP/s, ${(machine.bytesPerSecond / 1e12).toFixed(1)} TB/s, ${(machine.dispatchSeconds * 1e6).toFixed(1)} µs a dispatch)`,
    '  costliest programs:',
  ];
  for (const p of s.programs.slice(0, 3)) {
    lines.push(
      `    ${p.program}: ${ms(p.seconds)} (${((100 * p.seconds) / s.seconds).toFixed(0)}%), ${p.dispatches} dispatches, ${(p.flops / 1e12).toFixed(3)} TFLOP, ${(p.bytes / 1e9).toFixed(2)} GB`,
    );
  }
  return lines;
}
