export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

/** i18next's `t`, as far as the formatters need it. */
export type Translate = (key: string, options: Record<string, number>) => string;

/** `1h 2m`, `3m 12s`, `12s` in the page's language (locales: durationUnits.*). */
export function formatDuration(ms: number, t: Translate): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? t('durationUnits.hm', { h, m }) : m ? t('durationUnits.ms', { m, s: s % 60 }) : t('durationUnits.s', { s });
}

export const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

/** A loss as the pages show it (four decimals), or a dash when there is none. */
export function formatLoss(loss: number | undefined): string {
  return loss === undefined ? '–' : loss.toFixed(4);
}

/** A date and time in the page's language: `2026-12-06 21:16` reads the same in both. */
export function formatDate(iso: string, language: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(language, {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hour12: false,
  });
}
