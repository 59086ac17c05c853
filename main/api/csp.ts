/**
 * The renderer's Content-Security-Policy: only our own scripts and styles (no eval, no inline script), images from
 * us or data: URLs, and connections back to us (HTTP API and the /events WebSocket) only. Electron's app:// protocol
 * uses the same policy (main/electron/security.ts).
 */
export function contentSecurityPolicy(connectSrc: string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    // recharts and React set style attributes; no style *elements* from elsewhere.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${connectSrc.length ? ' ' + connectSrc.join(' ') : ''}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}
