/**
 * The server side of the course's Monitoring panel. The lab engine calls
 * `createPanel` the first time an environment's panel is asked for; it
 * starts that environment's sampler (every proxy's /metrics every 2 s, ten
 * minutes kept, the API's mode from its /health or its mode file) and serves
 * its snapshot as `GET /api/env/:k/monitoring`. The environment number comes
 * from LAB_ENV, like every script of this course; the sampler stops when the
 * lab closes.
 */
import { join } from 'node:path';
import { MonitoringSampler, type MonitoringSnapshot } from '../../infra/monitoring/sampler.js';
import { topology } from '../../infra/topology.js';
import type { PanelFactory, PanelInstance } from '../../lab/index.js';

export const createPanel: PanelFactory = (env): PanelInstance & { data(): Promise<MonitoringSnapshot> } => {
  const k = Number(env.vars.LAB_ENV ?? env.id);
  const sampler = new MonitoringSampler(topology(k), {
    modeFile: env.vars.LAB_ENV_DIR ? join(env.vars.LAB_ENV_DIR, 'client-connection-mode') : undefined,
  });
  const first = sampler.start();
  return {
    async data() {
      await first;
      return sampler.snapshot();
    },
    close: () => sampler.stop(),
  };
};
