/**
 * Picks the backend for a command. Only the embedded backend exists so far;
 * `--backend` names it explicitly and an unknown name is refused.
 */
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';

export function selectBackend(name: string | undefined): Backend {
  const chosen = name ?? process.env.ZDM_LAB_BACKEND ?? 'local';
  if (chosen === 'local') return new LocalBackend();
  throw new Error(`unknown backend "${chosen}" (available: local)`);
}
