import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

export interface Series {
  name: string;
  color: string;
  points: { step: number; value: number }[];
}

/** Loss curves against the optimizer step; several series share the step axis (training, validation, a second run). */
export function LossChart({ series, height = 280 }: { series: Series[]; height?: number }) {
  const steps = new Map<number, Record<string, number>>();
  for (const s of series) for (const p of s.points) steps.set(p.step, { ...(steps.get(p.step) ?? { step: p.step }), [s.name]: p.value });
  const data = [...steps.values()].sort((a, b) => a.step - b.step);
  return (
    <div
      className="chart"
      data-testid="loss-chart"
      data-points={data.length}
      data-first-step={data[0]?.step}
      data-last-step={data.at(-1)?.step}
    >
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
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
}
