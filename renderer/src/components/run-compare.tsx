import { useTranslation } from 'react-i18next';
import type { CallReply } from '../../../main/contract/contract.ts';
import { LossChart, type Series } from './loss-chart.tsx';
import { usePathDisplay } from './path-text.tsx';

type RunData = CallReply<'runs.read'>;
const COLORS = ['var(--accent)', 'var(--warn)', '#16a34a', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#7c3aed'];

/** Settings every run has its own of, whatever else differs: not worth a row. */
const OWN_TO_EACH = new Set(['output_dir']);

/** The settings whose values differ between the runs (from their config.json), in the config's order. */
export function differingSettings(runs: RunData[]): { key: string; values: (string | undefined)[] }[] {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config ?? {})))].filter((k) => !OWN_TO_EACH.has(k));
  const shown = (v: unknown) =>
    v === undefined ? undefined : typeof v === 'string' ? v : Array.isArray(v) ? v.map(String).join(', ') : JSON.stringify(v);
  return keys.map((key) => ({ key, values: runs.map((r) => shown(r.config?.[key])) })).filter(({ values }) => new Set(values).size > 1);
}

/** Runs side by side: their training and validation curves on one chart, and a table of the settings that differ. */
export function RunCompare({ runs }: { runs: RunData[] }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const series: Series[] = runs
    .flatMap((r, k) => [
      {
        name: `${r.run.id} · ${t('run.loss')}`,
        color: COLORS[(2 * k) % COLORS.length],
        points: r.metrics.filter((m) => m.loss !== undefined).map((m) => ({ step: m.step, value: m.loss! })),
      },
      {
        name: `${r.run.id} · ${t('run.evalLoss')}`,
        color: COLORS[(2 * k + 1) % COLORS.length],
        points: r.metrics.filter((m) => m.evalLoss !== undefined).map((m) => ({ step: m.step, value: m.evalLoss! })),
      },
    ])
    .filter((s) => s.points.length > 0);
  const diff = differingSettings(runs);
  return (
    <div data-testid="run-compare">
      <LossChart series={series} />
      {runs.length < 2 ? (
        <p className="muted">{t('compare.pickAnother')}</p>
      ) : diff.length === 0 ? (
        <p className="muted" data-testid="compare-same">
          {t('compare.same')}
        </p>
      ) : (
        <div className="table-scroll">
          <h3>{t('compare.differ', { count: diff.length })}</h3>
          <table className="table compare-table" data-testid="compare-settings">
            <thead>
              <tr>
                <th>{t('compare.setting')}</th>
                {runs.map((r) => (
                  <th key={r.run.id} className="mono">
                    {r.run.id}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {diff.map(({ key, values }) => (
                <tr key={key} data-setting={key}>
                  <td className="mono">{key}</td>
                  {values.map((v, i) => (
                    <td key={i} className="mono">
                      {v === undefined ? '–' : paths.text(v)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
