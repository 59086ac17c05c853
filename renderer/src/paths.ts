/**
 * Paths as the pages show them: a path under the user's home folder reads `~/…` (the shell's spelling), shorter
 * and without the user's name, with the full path kept in a tooltip where the page shows one path on its own.
 * The home folder comes from `app.info` (the machine the studio runs on, which in browser mode may be another one).
 */

const SEPARATOR = /[\\/]/;

/** The home folder without trailing separators; undefined when it cannot stand for anything (absent, or a root). */
function homeRoot(home: string | undefined): string | undefined {
  const h = home?.replace(/[\\/]+$/, '');
  // HOME=/ (some containers) or a bare drive would turn every absolute path into `~…`.
  if (!h || /^[A-Za-z]:$/.test(h)) return undefined;
  return h;
}

/** `~/models/x` for `<home>/models/x`, `~` for the home folder itself; any other path unchanged. */
export function shortPath(p: string, home: string | undefined): string {
  const h = homeRoot(home);
  if (!h || !p.startsWith(h)) return p;
  const rest = p.slice(h.length);
  if (rest === '') return '~';
  return SEPARATOR.test(rest[0]) ? `~${rest}` : p;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Every path under the home folder in a line of text (a job's log) shortened as shortPath does. Only whole path
 * prefixes count: with home `/home/ann`, `/home/anna/x` and `/srv/home/ann/x` stay as they are.
 */
export function shortPathsIn(text: string, home: string | undefined): string {
  const h = homeRoot(home);
  if (!h) return text;
  return text.replace(new RegExp(`(?<![\\w.\\-\\\\/])${escape(h)}(?![\\w.-])`, 'g'), '~');
}
