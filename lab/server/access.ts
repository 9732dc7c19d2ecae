/**
 * Who may use the lab. Each start of the server makes a fresh random token and
 * prints a URL carrying it (as Jupyter does). Opening that URL turns the token
 * into an HttpOnly, SameSite=Strict cookie and redirects to the clean URL;
 * from then on every HTTP route and every WebSocket upgrade needs the cookie
 * (or, for scripts, an `Authorization: Bearer` header). A WebSocket upgrade or
 * a POST whose Origin is not the lab's own page is refused, so another site
 * open in the same browser can neither drive the terminals nor run blocks.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Express, NextFunction, Request, Response } from 'express';

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/** The cookie name carries the port: cookies ignore ports, two labs on one host must not share one. */
export function cookieName(port: number): string {
  return `zdm_lab_${port}`;
}

export function tokenMatches(token: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

export function isAuthorized(req: IncomingMessage, token: string, port: number): boolean {
  return tokenMatches(token, cookie(req, cookieName(port))) || tokenMatches(token, bearer(req));
}

/** An Origin header equal to the lab's own (scheme + the Host the request was sent to). */
export function isSameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  return origin !== undefined && host !== undefined && origin === `http://${host}`;
}

export function setupAccess(app: Express, token: string, port: () => number): void {
  app.use((req: Request, res: Response, next: NextFunction) => {
    const p = port();
    const fromUrl = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (fromUrl !== undefined) {
      if (!tokenMatches(token, fromUrl)) return refuse(res, 'the token in this URL is not the one this lab printed at start (a restart makes a new one)');
      res.cookie(cookieName(p), token, { httpOnly: true, sameSite: 'strict', path: '/' });
      const clean = new URL(req.originalUrl, 'http://lab');
      clean.searchParams.delete('token');
      return res.redirect(302, clean.pathname + clean.search);
    }
    if (!isAuthorized(req, token, p)) return refuse(res, 'open the URL that `npm start` printed; it carries the access token');
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.headers.origin !== undefined && !isSameOrigin(req)) {
      return res.status(403).json({ error: `requests from ${req.headers.origin} are not accepted` });
    }
    next();
  });
}

function refuse(res: Response, why: string): void {
  res.status(403).type('text/plain').send(`403 Forbidden: ${why}.\n`);
}
