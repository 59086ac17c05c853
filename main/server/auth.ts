import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/** A fresh random token: 192 bits, URL-safe. */
export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Compare in constant time; hashing first makes both sides the same length, so the length leaks nothing either. */
export function tokenMatches(expected: string, given: string | undefined | null): boolean {
  if (typeof given !== 'string' || given === '') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/** The token of a request: `x-studio-token` header, `Authorization: Bearer`, or `?token=` (WebSocket, first page load). */
export function tokenOf(headers: Record<string, string | string[] | undefined>, url: URL): string | undefined {
  const h = headers['x-studio-token'];
  if (typeof h === 'string') return h;
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7);
  return url.searchParams.get('token') ?? undefined;
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.');
  return false;
}
