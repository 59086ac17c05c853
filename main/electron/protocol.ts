import { contentType, readStatic, resolveStatic } from '../api/static-files.ts';
import { APP_CSP, APP_HOST, APP_SCHEME } from './security.ts';

/**
 * The renderer is served from app://studio/, not file://: a real origin for the CSP and for checking IPC
 * senders, and no access to the rest of the disk through relative URLs.
 */
const APP_SCHEME_PRIVILEGES = {
  scheme: APP_SCHEME,
  privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true },
};

interface ProtocolLike {
  registerSchemesAsPrivileged(schemes: (typeof APP_SCHEME_PRIVILEGES)[]): void;
  handle(scheme: string, handler: (request: Request) => Response | Promise<Response>): void;
}

/** Before app ready: app:// must be registered as a standard, secure scheme. */
export function registerAppScheme(protocol: Pick<ProtocolLike, 'registerSchemesAsPrivileged'>): void {
  protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
}

/** The answer to one app:// request: a file of the built renderer with our CSP, or 404. */
export function appResponse(requestUrl: string, rendererDir: string): { status: number; headers: Record<string, string>; body?: Buffer } {
  const headers: Record<string, string> = { 'Content-Security-Policy': APP_CSP, 'X-Content-Type-Options': 'nosniff' };
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return { status: 400, headers };
  }
  if (url.protocol !== `${APP_SCHEME}:` || url.host !== APP_HOST) return { status: 404, headers };
  const file = resolveStatic(rendererDir, url.pathname);
  if (!file) return { status: 404, headers };
  return { status: 200, headers: { ...headers, 'Content-Type': contentType(file) }, body: readStatic(file) };
}

/** After app ready: answer app:// from the renderer folder. */
export function serveApp(protocol: Pick<ProtocolLike, 'handle'>, rendererDir: string): void {
  protocol.handle(APP_SCHEME, (request) => {
    const r = appResponse(request.url, rendererDir);
    return new Response(r.body ? new Uint8Array(r.body) : null, { status: r.status, headers: r.headers });
  });
}
