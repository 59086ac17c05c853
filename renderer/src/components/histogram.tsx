import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';

/** Token-length histogram; the last bin (to: null) holds the rows cut at cutoff_len and is drawn in red. */
export function Histogram({ bins }: { bins: { from: number; to: number | null; count: number }[] }) {
  const data = bins.map((b) => ({ label: b.to === null ? `≥${b.from}` : `${b.from}`, count: b.count, over: b.to === null }));
  return (
    <div className="chart" data-testid="length-histogram">
      <ResponsiveContainer width="100%" height={180}>
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="var(--grid)" />
          <XAxis dataKey="label" interval="preserveStartEnd" />
          <YAxis allowDecimals={false} width={52} />
          <Tooltip />
          <Bar dataKey="count" isAnimationActive={false} fill="var(--accent)" />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}
