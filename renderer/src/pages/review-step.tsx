import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobInfo } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';

export function ReviewStep({
  config,
  ready,
  onStarted,
}: {
  config: Record<string, unknown>;
  ready: boolean;
  onStarted(job: JobInfo): void;
}) {
  const { t } = useTranslation();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onStarted(await call('jobs.start', jobRequest({ kind: 'finetune', config })));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section data-testid="review-step">
      <h2>{t('wizard.review.title')}</h2>
      {!ready && <p className="notice">{t('wizard.review.missing')}</p>}
      <pre className="config mono">{JSON.stringify(config, null, 2)}</pre>
      <ErrorBox error={error} />
      <button className="primary" data-testid="start-training" disabled={!ready || busy} onClick={() => void start()}>
        {t('wizard.review.start')}
      </button>
    </section>
  );
}
