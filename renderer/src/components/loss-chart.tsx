import { memo, useMemo } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

export interface Series {
  name: string;
  color: string;
  points: { step: number; value: number }[];
}

/** The most steps drawn: beyond it every k-th step is drawn (the first and last always), so a long run stays quick to redraw. */
const MAX_DRAWN = 800;

/** Loss curves against the optimizer step; several series share the step axis (training, validation, a second run). */
export const LossChart = memo(function LossChart({ series, height = 280 }: { series: Series[]; height?: number }) {
  const data = useMemo(() => {
    const steps = new Map<number, Record<string, number>>();
    for (const s of series) for (const p of s.points) steps.set(p.step, { ...(steps.get(p.step) ?? { step: p.step }), [s.name]: p.value });
    return [...steps.values()].sort((a, b) => a.step - b.step);
  }, [series]);
  const drawn = useMemo(() => {
    if (data.length <= MAX_DRAWN) return data;
    const every = Math.ceil(data.length / MAX_DRAWN);
    // A validation point is kept wherever it falls: there are few of them.
    return data.filter((d, i) => i % every === 0 || i === data.length - 1 || Object.keys(d).length > 2);
  }, [data]);
  return (
    <div
      className="chart"
      data-testid="loss-chart"
      data-points={data.length}
      data-first-step={data[0]?.step}
      data-last-step={data.at(-1)?.step}
    >
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={drawn} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="step" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} />
          <YAxis domain={['auto', 'auto']} width={56} tickFormatter={(v: number) => v.toFixed(2)} />
          <Tooltip />
          <Legend />
          {series.map((s) => (
            <Line key={s.name} dataKey={s.name} stroke={s.color} dot={s.points.length < 40} connectNulls isAnimationActive={false} />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
});
