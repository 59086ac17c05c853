import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { ClusterProfile, JobInfo } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';
import { issueText } from '../wizard/schema-issues.ts';
import {
  clusterSettingsOf,
  emptyProfileForm,
  formOfProfile,
  isNumberField,
  PROFILE_FIELDS,
  profileOfForm,
  type ProfileField,
  type ProfileForm,
} from './profile-form.ts';

export type RunTarget = 'local' | 'cluster';

/** Local or cluster: the choice beside Start, in the Review step. */
export function TargetChoice({ target, setTarget }: { target: RunTarget; setTarget(t: RunTarget): void }) {
  const { t } = useTranslation();
  return (
    <fieldset className="panel run-target" data-testid="run-target">
      <legend>{t('cluster.target')}</legend>
      {(['local', 'cluster'] as const).map((v) => (
        <label key={v} className="check">
          <input
            type="radio"
            name="run-target"
            value={v}
            checked={target === v}
            onChange={() => setTarget(v)}
            data-testid={`target-${v}`}
          />{' '}
          {t(v === 'local' ? 'cluster.targetLocal' : 'cluster.targetCluster')}
        </label>
      ))}
    </fieldset>
  );
}

/**
 * "Run on a cluster": a saved profile chosen (or a new one typed), checked by the contract's schema as it changes,
 * saved on the main side (settings: electron-store in the app, the server's settings file in browser mode), and the
 * run submitted as a `cluster` job, which the main side's job process stages, sbatches and follows.
 */
export function ClusterSubmit({
  config,
  ready,
  onStarted,
}: {
  config: Record<string, unknown>;
  ready: boolean;
  onStarted(job: JobInfo): void;
}) {
  const { t } = useTranslation();
  const [profiles, setProfiles] = useState<ClusterProfile[]>([]);
  const [chosen, setChosen] = useState('');
  const [form, setForm] = useState<ProfileForm>(emptyProfileForm);
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    call('settings.get', {})
      .then((s) => {
        setProfiles(s.clusterProfiles);
        const first = s.clusterProfiles[0];
        if (first) {
          setChosen(first.name);
          setForm(formOfProfile(first));
        }
      })
      .catch((e: Error) => setError(e.message));
  }, []);
  const { profile, issues } = profileOfForm(form);
  const choose = (name: string) => {
    setChosen(name);
    setNote(undefined);
    const p = profiles.find((x) => x.name === name);
    setForm(p ? formOfProfile(p) : emptyProfileForm());
  };
  const save = async () => {
    if (!profile) return;
    setError(undefined);
    try {
      const list = [...profiles.filter((p) => p.name !== profile.name && p.name !== chosen), profile];
      const s = await call('settings.set', { clusterProfiles: list });
      setProfiles(s.clusterProfiles);
      setChosen(profile.name);
      setNote(t('cluster.saved', { name: profile.name }));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const remove = async () => {
    try {
      const s = await call('settings.set', { clusterProfiles: profiles.filter((p) => p.name !== chosen) });
      setProfiles(s.clusterProfiles);
      choose('');
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const submit = async () => {
    if (!profile) return;
    setBusy(true);
    setError(undefined);
    try {
      const request = jobRequest({ kind: 'cluster', config: { action: 'submit', settings: config, cluster: clusterSettingsOf(profile) } });
      onStarted(await call('jobs.start', request));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const set = (f: ProfileField, v: string) => (setNote(undefined), setForm((x) => ({ ...x, [f]: v })));
  return (
    <div className="panel cluster-submit" data-testid="cluster-submit">
      <p className="muted">{t('cluster.hint')}</p>
      <label className="field">
        <span className="label">{t('cluster.profile')}</span>
        <select data-testid="cluster-profile" value={chosen} onChange={(e) => choose(e.target.value)}>
          {profiles.map((p) => (
            <option key={p.name} value={p.name}>
              {p.name}
            </option>
          ))}
          <option value="">{t('cluster.newProfile')}</option>
        </select>
        {profiles.length === 0 && <small className="help">{t('cluster.noProfiles')}</small>}
      </label>
      <div className="form-grid cluster-fields">
        {PROFILE_FIELDS.map((f) => {
          const issue = issues.get(f);
          return (
            <label key={f} className="field" data-field={f}>
              <span className="label">
                {t(`cluster.fields.${f}`)} {f !== 'name' && <code className="flag">{f}</code>}
              </span>
              {f === 'setup' ? (
                <textarea
                  data-testid={`cluster-${f}`}
                  rows={2}
                  value={form[f]}
                  onChange={(e) => set(f, e.target.value)}
                  spellCheck={false}
                />
              ) : (
                <input
                  type="text"
                  data-testid={`cluster-${f}`}
                  inputMode={isNumberField(f) ? 'numeric' : 'text'}
                  aria-invalid={Boolean(issue)}
                  value={form[f]}
                  onChange={(e) => set(f, e.target.value)}
                  spellCheck={false}
                />
              )}
              {issue && (
                <small className="issue" role="alert" data-testid={`cluster-issue-${f}`}>
                  {issueText(t, issue, form[f])}
                </small>
              )}
              <small className="help">{t(`cluster.help.${f}`)}</small>
            </label>
          );
        })}
      </div>
      <ErrorBox error={error} />
      {note && (
        <p className="muted" data-testid="cluster-note">
          {note}
        </p>
      )}
      <p className="row">
        <button data-testid="cluster-save" disabled={!profile} onClick={() => void save()}>
          {t('cluster.save')}
        </button>
        {chosen && (
          <button className="danger" data-testid="cluster-delete" onClick={() => void remove()}>
            {t('cluster.deleteProfile')}
          </button>
        )}
        <span className="spacer" />
        <button className="primary" data-testid="cluster-start" disabled={!ready || !profile || busy} onClick={() => void submit()}>
          {t('cluster.submit')}
        </button>
      </p>
    </div>
  );
}
