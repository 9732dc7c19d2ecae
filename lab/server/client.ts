/**
 * Serving the browser client. At start the client (lab/client/main.ts and its
 * CSS, xterm.js included) is bundled with esbuild into memory, which takes a
 * fraction of a second, so a fresh clone needs no build step: `npm install &&
 * npm start` is enough.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { Express } from 'express';

const clientDir = fileURLToPath(new URL('../client/', import.meta.url));

export interface ClientBundle {
  js: string;
  css: string;
  html: string;
}

/** Bundles one page of the client: its entry script (with its CSS) and its HTML file. */
export async function buildClient(entry = 'main.ts', page = 'index.html'): Promise<ClientBundle> {
  const result = await esbuild.build({
    entryPoints: [clientDir + entry],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    outdir: '/bundle',
    loader: { '.css': 'css' },
    logLevel: 'silent',
  });
  const file = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(ext))?.text ?? '';
  return { js: file('.js'), css: file('.css'), html: readFileSync(clientDir + page, 'utf8') };
}

export function setupClient(app: Express, bundle: ClientBundle, title: string): void {
  const html = bundle.html.replaceAll('{{title}}', escapeHtml(title));
  app.get('/', (_req, res) => {
    res.type('html').set('Cache-Control', 'no-store').send(html);
  });
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });
  app.get('/app.js', (_req, res) => {
    res.type('js').set('Cache-Control', 'no-cache').send(bundle.js);
  });
  app.get('/app.css', (_req, res) => {
    res.type('css').set('Cache-Control', 'no-cache').send(bundle.css);
  });
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
