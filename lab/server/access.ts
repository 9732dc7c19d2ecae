/**
 * Who may use the lab, and which part of it. A token names a principal: the
 * instructor (one token per server start, for the console and every
 * environment) or one learner (one token per environment, in their invite
 * link), which opens that environment's page, API calls, panels and terminals
 * and nothing of any other environment. Opening a URL that carries a token
 * turns it into an HttpOnly, SameSite=Strict cookie (instructor and learner
 * cookies are separate, so one browser can hold both) and redirects to the
 * clean URL; from then on every HTTP route and every WebSocket upgrade needs
 * a cookie (or, for scripts, an `Authorization: Bearer` header). A WebSocket
 * upgrade or a POST whose Origin is not the lab's own page is refused, so
 * another site open in the same browser can neither drive the terminals nor
 * run blocks. A third kind of token, an environment's shell token, is
 * handed to that environment's terminals only (LAB_SHELL_TOKEN): it lets
 * `zdm-lab infra up` typed there ask the lab to bring the environment back
 * to the learner's page and follow that, and opens nothing else.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Express, NextFunction, Request, Response } from 'express';
import { parse as parseCookie } from 'cookie';

export type Principal = { role: 'instructor' } | { role: 'learner'; env: number } | { role: 'shell'; env: number };

/** Turns a presented token into the principal it names (undefined: no such token). */
export type TokenResolver = (token: string) => Principal | undefined;

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

/**
 * The server's token key (`token.key` in its data folder, 0600, made on the
 * first start). A learner's token is derived from it and a salt the database
 * keeps, so the database alone (which keeps only hashes) opens nothing, while
 * invite links survive a restart.
 */
export function loadTokenKey(dataDir: string): Buffer {
  const path = join(dataDir, 'token.key');
  if (!existsSync(path)) writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  const key = readFileSync(path);
  if (key.length < 32) throw new Error(`${path} is not a token key (${key.length} bytes; remove it to make a new one, which replaces every invite link)`);
  return key;
}

export function newSalt(): string {
  return randomBytes(16).toString('hex');
}

/** A learner's token: the key's HMAC of the salt. */
export function tokenFor(key: Buffer, salt: string): string {
  return createHmac('sha256', key).update(salt).digest('hex').slice(0, 48);
}

/** Environment K's shell token: the key's HMAC of a name no salt can take (salts are hex). */
export function shellTokenFor(key: Buffer, env: number): string {
  return tokenFor(key, `shell:${env}`);
}

/** The routes a shell token opens, for its own environment: restore, and the progress that follows it. */
const SHELL_ROUTES: { method: string; path: RegExp }[] = [
  { method: 'POST', path: /^\/api\/env\/(\d+)\/restore$/ },
  { method: 'GET', path: /^\/api\/env\/(\d+)\/progress$/ },
];

/** The request is one a shell token of its environment may make. */
function shellMayUse(principals: Principal[], method: string, path: string): boolean {
  const route = SHELL_ROUTES.find((r) => r.method === method && r.path.test(path));
  const env = route ? Number(route.path.exec(path)![1]) : undefined;
  return env !== undefined && principals.some((p) => p.role === 'shell' && p.env === env);
}

/** The cookie name carries the port: cookies ignore ports, two labs on one host must not share one. */
export function cookieName(port: number, role: 'instructor' | 'learner' = 'learner'): string {
  return role === 'instructor' ? `lab_${port}_instructor` : `lab_${port}`;
}

export function tokenMatches(token: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(token);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A cookie's value; the `cookie` library leaves a value that is not valid percent-encoding as it is instead of throwing. */
function cookie(req: IncomingMessage, name: string): string | undefined {
  return parseCookie(req.headers.cookie ?? '')[name];
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  return h?.startsWith('Bearer ') ? h.slice(7) : undefined;
}

/** Every principal the request's credentials name (a browser may carry an instructor and a learner cookie). */
export function principalsOf(req: IncomingMessage, resolve: TokenResolver, port: number): Principal[] {
  const given = [bearer(req), cookie(req, cookieName(port, 'instructor')), cookie(req, cookieName(port, 'learner'))];
  return given.flatMap((t) => {
    const p = t === undefined ? undefined : resolve(t);
    return p ? [p] : [];
  });
}

export function mayUseEnvironment(principals: Principal[], env: number): boolean {
  return principals.some((p) => p.role === 'instructor' || (p.role === 'learner' && p.env === env));
}

export function isInstructor(principals: Principal[]): boolean {
  return principals.some((p) => p.role === 'instructor');
}

/**
 * An Origin header equal to the lab's own: scheme + the Host the request was
 * sent to, or the origin of the lab's public address (`publicOrigin`, from
 * LabOptions.publicUrl), which a TLS-terminating proxy in front of the lab
 * makes the pages' origin.
 */
export function isSameOrigin(req: IncomingMessage, publicOrigin?: string): boolean {
  const origin = req.headers.origin;
  const host = req.headers.host;
  const scheme = (req.socket as TLSSocket).encrypted ? 'https' : 'http';
  if (origin !== undefined && publicOrigin !== undefined && origin === publicOrigin) return true;
  return origin !== undefined && host !== undefined && origin === `${scheme}://${host}`;
}

// Case-insensitive, as express's routing is: /API/ENV/2 reaches the same handler as /api/env/2.
const ENV_ROUTE = /^\/api\/env\/([^/]+)(?:\/|$)/i;
const INSTRUCTOR_ROUTE = /^\/(?:instructor(?:[./]|$)|api\/instructor(?:\/|$))/i;

export function setupAccess(app: Express, resolve: TokenResolver, port: () => number, publicOrigin?: string): void {
  // The Host of requests that came through a TLS-terminating proxy at the lab's https public address.
  const tlsPublicHost = publicOrigin?.startsWith('https://') ? new URL(publicOrigin).host : undefined;
  app.use((req: Request, res: Response, next: NextFunction) => {
    const p = port();
    const fromUrl = typeof req.query.token === 'string' ? req.query.token : undefined;
    if (fromUrl !== undefined) {
      const principal = resolve(fromUrl);
      if (!principal) return refuse(res, 'the token in this URL is not one this lab handed out (a restart makes a new instructor token)');
      if (principal.role === 'shell') return refuse(res, "this token is for zdm-lab in the environment's terminals, not for a browser");
      // Secure over TLS: the lab's own, or a proxy's in front of it, when the request came to the public address (https).
      const secure = req.secure || (tlsPublicHost !== undefined && req.headers.host === tlsPublicHost);
      res.cookie(cookieName(p, principal.role), fromUrl, { httpOnly: true, sameSite: 'strict', path: '/', secure });
      const clean = new URL(req.originalUrl, 'http://lab');
      clean.searchParams.delete('token');
      return res.redirect(302, clean.pathname + clean.search);
    }
    const principals = principalsOf(req, resolve, p);
    if (principals.length === 0) return refuse(res, 'open the URL that `npm start` printed (or your invite link); it carries the access token');
    // A script in a terminal sends its shell token as a Bearer header, never from a page: no Origin to check.
    if (shellMayUse(principals, req.method, req.path) && bearer(req) !== undefined) return next();
    if (principals.every((x) => x.role === 'shell')) return res.status(403).json({ error: "an environment's shell token opens only zdm-lab infra up's restore, not this" });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // A browser sends Origin with every state-changing request; a cross-site form cannot send Authorization.
      if (req.headers.origin !== undefined && !isSameOrigin(req, publicOrigin)) return res.status(403).json({ error: `requests from ${req.headers.origin} are not accepted` });
      if (req.headers.origin === undefined && bearer(req) === undefined) {
        return res.status(403).json({ error: 'a request that changes something needs the Origin header a browser sends, or an Authorization: Bearer header' });
      }
    }
    if (INSTRUCTOR_ROUTE.test(req.path) && !isInstructor(principals)) {
      return refuse(res, 'this is the instructor console; it needs the instructor link the lab printed at start');
    }
    const envRoute = ENV_ROUTE.exec(req.path);
    if (envRoute && !mayUseEnvironment(principals, Number(envRoute[1]))) {
      return res.status(403).json({ error: `your access token does not open environment ${envRoute[1]}` });
    }
    if (req.path === '/' && !isInstructor(principals)) {
      // A learner's page is their own environment's: `/` alone goes there (the page's default is 1), another number is refused.
      const own = principals.find((x) => x.role === 'learner')!;
      const asked = req.query.env;
      if (asked === undefined && own.env !== 1) return res.redirect(302, `/?env=${own.env}`);
      if (asked !== undefined && !mayUseEnvironment(principals, Number(asked))) return refuse(res, `your access token does not open environment ${String(asked)}`);
    }
    next();
  });
}

function refuse(res: Response, why: string): void {
  res.status(403).type('text/plain').send(`403 Forbidden: ${why}.\n`);
}
