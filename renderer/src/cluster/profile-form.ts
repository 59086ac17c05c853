import { clusterProfileSchema, type ClusterProfile } from '../../../main/contract/contract.ts';
import { parseNumberText } from '../../../main/contract/finetune-form.ts';
import type { SchemaIssue } from '../wizard/settings-form.ts';

/**
 * The cluster profile form: what the person typed, one text per field, made into a profile and checked by the
 * contract's clusterProfileSchema (the one the CLI's cluster flags are made of) as it changes.
 */
export const PROFILE_FIELDS = [
  'name',
  'cluster',
  'partition',
  'account',
  'qos',
  'nodes',
  'gpus_per_node',
  'nproc_per_node',
  'cpus_per_task',
  'mem',
  'time',
  'python',
  'setup',
  'remote_dir',
  'cluster_base_model',
  'ssh_config',
] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];
export type ProfileForm = Record<ProfileField, string>;

const NUMBERS: ReadonlySet<ProfileField> = new Set(['nodes', 'gpus_per_node', 'nproc_per_node', 'cpus_per_task']);
export const isNumberField = (f: ProfileField) => NUMBERS.has(f);

export function emptyProfileForm(): ProfileForm {
  const form = Object.fromEntries(PROFILE_FIELDS.map((f) => [f, ''])) as ProfileForm;
  return {
    ...form,
    cluster: 'local',
    nodes: '1',
    nproc_per_node: '1',
    gpus_per_node: '0',
    python: 'python3',
    remote_dir: '~/lora-studio-runs',
  };
}

/** A saved profile as the form shows it. */
export function formOfProfile(p: ClusterProfile): ProfileForm {
  const form = emptyProfileForm();
  for (const f of PROFILE_FIELDS) {
    const v = (p as Record<string, unknown>)[f];
    form[f] = v === undefined ? '' : String(v);
  }
  return form;
}

/**
 * The form as a profile: blank fields left out (the schema's defaults apply at submit), numbers read as a person
 * types them (text that is no number stays text, so the schema names the field). `issues`: each field's first issue.
 */
export function profileOfForm(form: ProfileForm): {
  profile?: ClusterProfile;
  issues: Map<ProfileField, SchemaIssue>;
} {
  const raw: Record<string, unknown> = {};
  for (const f of PROFILE_FIELDS) {
    // setup keeps its own spacing (shell lines); the rest are single words.
    const text = f === 'setup' ? form[f] : form[f].trim();
    if (text.trim() === '') continue;
    raw[f] = isNumberField(f) ? (parseNumberText(text) ?? text) : text;
  }
  if (raw.name === undefined) raw.name = '';
  const r = clusterProfileSchema.safeParse(raw);
  const issues = new Map<ProfileField, SchemaIssue>();
  if (r.success) return { profile: r.data, issues };
  for (const issue of r.error.issues) {
    const field = issue.path[0] as ProfileField;
    if (!issues.has(field)) issues.set(field, issue);
  }
  return { issues };
}

/** A profile's settings as a cluster job takes them: everything but its name. */
export function clusterSettingsOf(profile: ClusterProfile): Omit<ClusterProfile, 'name'> {
  const { name: _name, ...settings } = profile;
  return settings;
}
