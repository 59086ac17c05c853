import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { type CallReply, BASE_DTYPE_CHOICES } from '../../../main/contract/contract.ts';
import { formatBytes } from '../format.ts';
import { call } from '../transport.ts';

type Estimate = CallReply<'finetune.estimate'>;

/** Training memory for the chosen model and settings (weights, LoRA, optimizer, activations) against the machine's. */
export function MemoryEstimate({
  baseModel,
  settings,
}: {
  baseModel?: string;
  settings: {
    micro_batch_size?: unknown;
    cutoff_len: number;
    lora_r?: unknown;
    lora_target_modules?: unknown;
    base_dtype?: unknown;
    gradient_checkpointing?: unknown;
  };
}) {
  const { t } = useTranslation();
  const [estimate, setEstimate] = useState<Estimate>();
  const [error, setError] = useState<string>();
  const micro = Number(settings.micro_batch_size);
  const r = Number(settings.lora_r);
  const targets = Array.isArray(settings.lora_target_modules) ? (settings.lora_target_modules as string[]) : [];
  const baseDtype = BASE_DTYPE_CHOICES.find((c) => c === settings.base_dtype);
  const checkpointing = typeof settings.gradient_checkpointing === 'boolean' ? settings.gradient_checkpointing : undefined;
  const key = JSON.stringify([baseModel, micro, settings.cutoff_len, r, targets, baseDtype, checkpointing]);
  // Settings that cannot be estimated show nothing (rather than the last estimate); no request is made for them.
  const complete = !!baseModel && micro > 0 && r > 0 && targets.length > 0;
  useEffect(() => {
    if (!complete) return;
    // Settle for a moment: typing "16" should not ask twice.
    const timer = setTimeout(() => {
      call('finetune.estimate', {
        base_model: baseModel,
        micro_batch_size: micro,
        cutoff_len: settings.cutoff_len,
        lora_r: r,
        lora_target_modules: targets,
        base_dtype: baseDtype,
        gradient_checkpointing: checkpointing,
      })
        .then((e) => (setEstimate(e), setError(undefined)))
        .catch((e: Error) => setError(e.message));
    }, 250);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  if (!baseModel) return <p className="muted">{t('estimate.noModel')}</p>;
  if (error) return <p className="error">{error}</p>;
  if (!estimate || !complete) return null;
  const rows: [string, number][] = [
    [t('estimate.weights'), estimate.weightsBytes],
    ...(estimate.hostWeightsBytes > 0 ? [[t('estimate.hostWeights'), estimate.hostWeightsBytes] as [string, number]] : []),
    [t('estimate.lora'), estimate.loraBytes],
    [t('estimate.optimizer'), estimate.optimizerBytes],
    ...(estimate.runtimeBytes > 0 ? [[t('estimate.runtime'), estimate.runtimeBytes] as [string, number]] : []),
    [t(estimate.gradientCheckpointing ? 'estimate.activationsCheckpointed' : 'estimate.activations'), estimate.activationsBytes],
  ];
  return (
    <div className="panel" data-testid="memory-estimate">
      <h3>{t('estimate.title')}</h3>
      <p data-testid="estimate-base-dtype">{t('estimate.baseDtype', { mode: estimate.baseDtype })}</p>
      <table className="table estimate">
        <tbody>
          {rows.map(([label, bytes]) => (
            <tr key={label}>
              <td>{label}</td>
              <td>{formatBytes(bytes)}</td>
            </tr>
          ))}
          <tr>
            <th>{t('estimate.total')}</th>
            <th data-testid="estimate-total">{formatBytes(estimate.totalBytes)}</th>
          </tr>
          {estimate.heapLimitBytes !== null && (
            <tr data-testid="estimate-heap">
              <td>{t('estimate.heap', { limit: formatBytes(estimate.heapLimitBytes) })}</td>
              <td>{formatBytes(estimate.heapBytes)}</td>
            </tr>
          )}
          <tr>
            <td>{t('estimate.available', { total: formatBytes(estimate.machineBytes) })}</td>
            <td>{formatBytes(estimate.availableBytes)}</td>
          </tr>
          {estimate.gpu && (
            <tr data-testid="estimate-gpu">
              <td>
                {t('estimate.gpu', {
                  name: estimate.gpu.name,
                  total: estimate.gpu.totalBytes === null ? '?' : formatBytes(estimate.gpu.totalBytes),
                })}
              </td>
              <td>{estimate.gpu.freeBytes === null ? '?' : formatBytes(estimate.gpu.freeBytes)}</td>
            </tr>
          )}
          <tr>
            <td>
              {t('estimate.largest', {
                what: `${t(`estimate.tensor.${estimate.largestTensor.kind}`)} (${estimate.largestTensor.shape.join(' × ')} f32)`,
              })}
            </td>
            <td>{formatBytes(estimate.largestTensor.bytes)}</td>
          </tr>
        </tbody>
      </table>
      <p className={estimate.fits ? 'muted' : 'notice'} data-testid="estimate-verdict">
        {estimate.fits ? t('estimate.fits') : t('estimate.tooBig')}
      </p>
      {estimate.gpu?.freeBytes != null && (
        <p className={estimate.totalBytes < estimate.gpu.freeBytes ? 'muted' : 'notice'} data-testid="estimate-gpu-verdict">
          {estimate.totalBytes < estimate.gpu.freeBytes ? t('estimate.gpuFits') : t('estimate.gpuTooBig')}
        </p>
      )}
      <p className="muted">{t('estimate.webgpuNote')}</p>
    </div>
  );
}
