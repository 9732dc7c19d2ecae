/**
 * The error boundary of the lab server's HTTP side, and its one way to log a
 * failure. Whatever a request holds, it gets an answer: a JSON error with a
 * message a person can act on, never a stack trace or a path of the
 * server's; a 5xx is logged in one line on the server's stderr. Unknown
 * paths get a JSON 404, and a path that starts with `//` or holds a
 * backslash (which browsers read as another host) is refused before any
 * route, so no redirect can point away from the lab.
 */
import type { Express, NextFunction, Request, Response } from 'express';

/** One line on stderr: where it happened, what, and the first frame of the stack. */
export function logError(where: string, err: unknown): void {
  const e = err as Error;
  const frame = e?.stack?.split('\n').find((l) => l.trim().startsWith('at '))?.trim();
  process.stderr.write(`lab: ${where}: ${e?.message ?? String(err)}${frame ? ` (${frame})` : ''}\n`);
}

/** First in the chain: paths a browser would take for another site are refused. */
export function refuseForeignPaths(app: Express): void {
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (req.url.startsWith('//') || req.url.includes('\\')) return void res.status(400).json({ error: 'a path may not start with // or hold a backslash' });
    next();
  });
}

/** Last in the chain: a JSON 404 for what no route served, and JSON for every error a route threw. */
export function answerErrors(app: Express): void {
  app.use((req: Request, res: Response) => {
    res.status(404).json({ error: `nothing here: ${req.method} ${req.path}` });
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = err as { status?: number; statusCode?: number; expose?: boolean; type?: string; message?: string };
    const status = e?.status ?? e?.statusCode;
    const clientError = typeof status === 'number' && status >= 400 && status < 500;
    if (!clientError) logError(`${req.method} ${req.path}`, err);
    if (res.headersSent) return void res.destroy();
    const message =
      e?.type === 'entity.parse.failed'
        ? 'the request body is not valid JSON'
        : clientError && e.expose !== false
          ? String(e.message)
          : 'the lab could not handle this request; the server log says why';
    res.status(clientError ? status : 500).json({ error: message });
  });
}
