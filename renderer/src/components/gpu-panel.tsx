import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply } from '../../../main/api/contract.ts';
import { mib } from '../format.ts';
import { call } from '../transport.ts';

type Gpu = CallReply<'system.gpu'>;
const na = (v: number | null, unit: string) => (v === null ? 'N/A' : `${v}${unit}`);

/** nvidia-smi-style readings per GPU; when there is none, says so and shows the process's memory instead. */
export function GpuPanel({ tensorBytes }: { tensorBytes?: number }) {
  const { t } = useTranslation();
  const [gpu, setGpu] = useState<Gpu>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    let alive = true;
    const poll = () =>
      call('system.gpu', {})
        .then((g) => alive && (setGpu(g), setError(undefined)))
        .catch((e: Error) => alive && setError(e.message));
    void poll();
    const timer = setInterval(poll, 3000);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, []);
  return (
    <section className="panel" data-testid="gpu-panel">
      <h3>{t('run.gpu')}</h3>
      {error && <p className="error">{error}</p>}
      {gpu?.available &&
        gpu.gpus.map((g) => (
          <div key={g.index} className="gpu">
            <strong>
              GPU {g.index}: {g.name}
            </strong>
            <div className="meter">
              <div style={{ width: `${g.memoryTotalMiB ? (100 * (g.memoryUsedMiB ?? 0)) / g.memoryTotalMiB : 0}%` }} />
            </div>
            <small>
              {na(g.memoryUsedMiB, '')} / {na(g.memoryTotalMiB, ' MiB')} · {t('run.util')} {na(g.utilizationPercent, '%')} · {t('run.temp')} {na(g.temperatureC, '°C')} · {t('run.power')} {na(g.powerDrawW, ' W')}
            </small>
          </div>
        ))}
      {gpu && !gpu.available && (
        <p data-testid="no-gpu">
          {t('run.noGpu')} <small className="muted">({gpu.message})</small>
        </p>
      )}
      {gpu && (
        <p className="muted">
          {t('run.memory')}: {t('run.rss', { mb: mib(gpu.process.rssBytes) })} · {t('run.heap', { mb: mib(gpu.process.heapUsedBytes) })}
          {tensorBytes !== undefined && <> · {t('run.backend', { mb: mib(tensorBytes) })}</>}
        </p>
      )}
    </section>
  );
}
