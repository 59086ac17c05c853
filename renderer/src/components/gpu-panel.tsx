import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { BackendReport, CallReply, JobEvent } from '../../../main/contract/contract.ts';
import { mib } from '../format.ts';
import { call } from '../transport.ts';

type Gpu = CallReply<'system.gpu'>;
const na = (v: number | null, unit: string) => (v === null ? 'N/A' : `${v}${unit}`);

type JobMemory = Extract<JobEvent, { type: 'report' }>['memory'];

/**
 * nvidia-smi-style readings per GPU; when there is none, says so. Below them, what the running job computes on (its
 * tfjs backend and, with WebGPU, the adapter) and the job process's own memory, GPU buffers included.
 */
export function GpuPanel({ backend, memory }: { backend?: BackendReport; memory?: JobMemory }) {
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
              {t('gpuPanel.gpu', { index: g.index })}
              {t('punctuation.colon')}
              {g.name}
            </strong>
            <div className="meter">
              <div style={{ width: `${g.memoryTotalMiB ? (100 * (g.memoryUsedMiB ?? 0)) / g.memoryTotalMiB : 0}%` }} />
            </div>
            <small>
              {na(g.memoryUsedMiB, '')} / {na(g.memoryTotalMiB, ' MiB')} · {t('run.util')} {na(g.utilizationPercent, '%')} · {t('run.temp')}{' '}
              {na(g.temperatureC, '°C')} · {t('run.power')} {na(g.powerDrawW, ' W')}
            </small>
          </div>
        ))}
      {gpu && !gpu.available && (
        <p data-testid="no-gpu">
          {t('gpuPanel.noGpu', { reason: t(`gpuPanel.reason.${gpu.reason ?? 'failed'}`, { detail: gpu.detail ?? gpu.message ?? '' }) })}
        </p>
      )}
      {backend && (
        <p data-testid="job-backend">
          {t('run.backendName')}
          {t('punctuation.colon')}
          <span className="mono">{backend.detail}</span>
          {backend.adapter && (
            <>
              <br />
              {t('run.adapter')}
              {t('punctuation.colon')}
              <strong data-testid="webgpu-adapter">
                {[backend.adapter.vendor, backend.adapter.architecture].filter(Boolean).join(' ')}
              </strong>{' '}
              ({backend.adapter.description}
              {backend.adapter.software ? `, ${t('run.software')}` : ''}) ·{' '}
              {t('run.maxBinding', { mb: mib(backend.adapter.maxBindingBytes) })} ·{' '}
              {backend.adapter.shaderF16 ? 'shader-f16' : t('run.noF16')}
            </>
          )}
        </p>
      )}
      {memory && (
        <p className="muted" data-testid="job-memory">
          {t('run.jobMemory')}
          {t('punctuation.colon')}
          {t('run.rss', { mb: mib(memory.rssBytes) })} · {t('run.backend', { mb: mib(memory.tensorBytes) })}
          {memory.deviceBytes !== undefined && <> · {t('run.device', { mb: mib(memory.deviceBytes) })}</>}
        </p>
      )}
      {gpu && (
        <p className="muted">
          {t('run.memory')}
          {t('punctuation.colon')}
          {t('run.rss', { mb: mib(gpu.process.rssBytes) })} · {t('run.heap', { mb: mib(gpu.process.heapUsedBytes) })}
        </p>
      )}
    </section>
  );
}
