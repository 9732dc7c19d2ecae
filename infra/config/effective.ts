/**
 * What a running proxy was started with: its ZDM_* variables, as the
 * backend handed them to the process or container, kept beside its data in
 * effective-config.json. `proxy status` compares them with the YAML the
 * learner edits; the monitoring sampler reads the phase from them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProxySpec } from '../topology.js';

function file(proxy: ProxySpec): string {
  return join(proxy.dir, 'effective-config.json');
}

export function writeEffectiveConfig(proxy: ProxySpec, env: Record<string, string>): void {
  writeFileSync(file(proxy), JSON.stringify(env, null, 2));
}

/** undefined when the proxy was never started. */
export function effectiveConfig(proxy: ProxySpec): Record<string, string> | undefined {
  try {
    return JSON.parse(readFileSync(file(proxy), 'utf8')) as Record<string, string>;
  } catch {
    return undefined;
  }
}
