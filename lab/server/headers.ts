/**
 * The headers every answer of the lab carries (helmet): a Content-Security-
 * Policy that runs only the lab's own scripts and lets no other page frame
 * it, `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`
 * (a URL may carry an access token). Styles may be inline because xterm.js
 * and uPlot set them from script. No HSTS or upgrade-insecure-requests: the
 * lab speaks plain HTTP on loopback. The instructor console alone may also
 * compile WebAssembly (`allowWasm`): its session player runs its terminal
 * emulator as WebAssembly, which 'wasm-unsafe-eval' allows without allowing eval.
 */
import type { Response } from 'express';
import helmet from 'helmet';

export function securityHeaders(): ReturnType<typeof helmet> {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: false,
    referrerPolicy: { policy: 'no-referrer' },
  });
}

/** This answer's page may compile WebAssembly (and still evaluates no string as code). */
export function allowWasm(res: Response): void {
  const policy = res.getHeader('Content-Security-Policy');
  if (typeof policy === 'string') res.setHeader('Content-Security-Policy', policy.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'"));
}
