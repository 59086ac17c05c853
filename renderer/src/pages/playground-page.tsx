import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Field, NotAvailable } from '../components/common.tsx';

/** Prompt, template and sampling settings; base and fine-tuned answers side by side once generation is wired. */
export function PlaygroundPage() {
  const { t } = useTranslation();
  const [prompt, setPrompt] = useState('');
  const [s, setS] = useState({ template: 'alpaca', temperature: 0.7, topK: 40, topP: 0.9, maxTokens: 128 });
  return (
    <section data-testid="playground-page">
      <h2>{t('playground.title')}</h2>
      <NotAvailable what={t('playground.title')} part="generate/" />
      <Field label={t('playground.prompt')}>
        <textarea rows={4} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      </Field>
      <div className="form-grid">
        <Field label={t('playground.template')}>
          <select value={s.template} onChange={(e) => setS({ ...s, template: e.target.value })}>
            <option>alpaca</option>
            <option>alpaca_short</option>
            <option>vigogne</option>
          </select>
        </Field>
        <Field label={t('playground.temperature')}>
          <input type="number" step={0.05} value={s.temperature} onChange={(e) => setS({ ...s, temperature: Number(e.target.value) })} />
        </Field>
        <Field label={t('playground.topK')}>
          <input type="number" value={s.topK} onChange={(e) => setS({ ...s, topK: Number(e.target.value) })} />
        </Field>
        <Field label={t('playground.topP')}>
          <input type="number" step={0.05} value={s.topP} onChange={(e) => setS({ ...s, topP: Number(e.target.value) })} />
        </Field>
        <Field label={t('playground.maxTokens')}>
          <input type="number" value={s.maxTokens} onChange={(e) => setS({ ...s, maxTokens: Number(e.target.value) })} />
        </Field>
      </div>
      <button disabled>{t('playground.generate')}</button>
      <div className="cards">
        <div className="panel"><h3>{t('playground.base')}</h3></div>
        <div className="panel"><h3>{t('playground.tuned')}</h3></div>
      </div>
    </section>
  );
}
