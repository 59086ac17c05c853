/**
 * Quoting for the POSIX shell that runs our commands on the cluster (the login shell over ssh, /bin/sh here, bash in
 * the batch script). Every value is written in single quotes, inside which a POSIX shell reads nothing: `$(...)`,
 * backquotes, `;`, globs and newlines stay text. A single quote itself is closed, escaped and reopened ('\'').
 */
export function shellQuote(value: string | number): string {
  const text = String(value);
  if (text.includes('\0')) throw new Error('a NUL character cannot be passed to a shell');
  // Words made only of these characters mean the same quoted or not; leaving them bare keeps scripts readable.
  if (/^[A-Za-z0-9_./:=@%+,-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A command line of quoted words: `shellLine(['tail', '-c', '+5', path])`. */
export function shellLine(words: (string | number)[]): string {
  return words.map(shellQuote).join(' ');
}
