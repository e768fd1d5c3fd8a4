/**
 * Who may open the pages torchloop serves (the loop's scope, the live training curves, the
 * prediction page). They listen on 127.0.0.1 unless told otherwise. Another address is an
 * explicit option. The page then asks for a token that the process prints when it starts. The
 * token comes once as `?token=`, or is typed into the page's form, and is then kept in an HttpOnly
 * cookie. Every request without it gets 401.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

const ASK = `<!doctype html><meta charset="utf-8"><title>torchloop: token</title>
<style>body{font:14px sans-serif;margin:40px}input{font:14px monospace;width:28em}</style>
<h3>This torchloop page wants its token</h3><p>The process that serves it printed the token when it started.</p>
<form method="get"><input name="token" id="token" autofocus placeholder="token"> <button>open</button></form>`;

export interface HttpAccess {
  host: string;
  /** Null on loopback; otherwise the token every request must carry. */
  token: string | null;
  /** The page's URL as a user opens it (with the token, when there is one). */
  url(port: number): string;
  /** True when the request may go on; otherwise it has been answered (401, or a redirect that sets the cookie). */
  allow(req: IncomingMessage, res: ServerResponse): boolean;
}

export function httpAccess(what: string, host = '127.0.0.1', token?: string): HttpAccess {
  const open = LOOPBACK.has(host);
  const secret = open ? null : (token ?? randomBytes(18).toString('base64url'));
  const expected = secret ? Buffer.from(secret) : null;
  const matches = (t: string | null | undefined) => {
    if (!expected || !t) return false;
    const b = Buffer.from(t);
    return b.length === expected.length && timingSafeEqual(b, expected);
  };
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    host,
    token: secret,
    url: (port) => `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${port}/${secret ? `?token=${secret}` : ''}`,
    allow(req, res) {
      if (!expected) return true;
      const url = new URL(req.url ?? '/', 'http://x');
      const cookie = /(?:^|;\s*)tl_token=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
      if (matches(cookie)) return true;
      const given = url.searchParams.get('token');
      if (matches(given)) {
        url.searchParams.delete('token');
        res.writeHead(303, { location: url.pathname + url.search, 'set-cookie': `tl_token=${secret}; HttpOnly; SameSite=Strict; Path=/`, 'cache-control': 'no-store' }).end();
        return false;
      }
      res.writeHead(401, { 'content-type': url.pathname === '/' ? 'text/html; charset=utf-8' : 'text/plain', 'cache-control': 'no-store' });
      res.end(url.pathname === '/' ? ASK : `${what}: this page wants its token\n`);
      return false;
    },
  };
}

/** Says where a page listens, and its token when it has one (stderr: the user's terminal, not a file). */
export function announce(what: string, access: HttpAccess, port: number): void {
  if (access.token) process.stderr.write(`${what} listens on ${access.host}:${port}; it wants the token ${access.token} (open ${access.url(port)})\n`);
}
