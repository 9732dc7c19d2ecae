/**
 * The figures of one zdm-proxy scrape that the monitoring view charts, read
 * from the parsed `/metrics` text by their zdm-proxy v2.4 names: the request
 * latency histograms by type (reads answered by Origin, reads answered by
 * Target, writes), the async read histogram (one series per node, added up),
 * the requests each cluster was sent (reads and writes, at the proxy's
 * cluster connectors: a dual write counts once on each side), failed reads
 * by cluster, failed writes by the side they failed on, and the open client
 * connections. A name the proxy does not publish yet (no async
 * read was ever sent) reads as an empty histogram or zero.
 */
import { EMPTY_HISTOGRAM } from './histogram.js';
import { parsePrometheusText, readHistogram, readValue, type HistogramValue } from './prometheus-text.js';

export const REQUEST_KINDS = ['writes', 'reads_origin', 'reads_target', 'async_reads'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export const FAILED_WRITE_SIDES = ['origin', 'target', 'both'] as const;
export type FailedWriteSide = (typeof FAILED_WRITE_SIDES)[number];

export const CLUSTERS = ['origin', 'target'] as const;
export type ClusterSide = (typeof CLUSTERS)[number];

export interface ProxyScrape {
  /** Cumulative latency histograms in seconds, since the proxy started. */
  requests: Record<RequestKind, HistogramValue>;
  /** Requests each cluster was sent, since the proxy started (async reads not included). */
  clusterRequests: Record<ClusterSide, { reads: number; writes: number }>;
  failedReads: { origin: number; target: number };
  failedWrites: Record<FailedWriteSide, number>;
  clientConnections: number;
}

export const METRIC = {
  requestDuration: 'zdm_proxy_request_duration_seconds',
  asyncDuration: 'zdm_async_request_duration_seconds',
  originDuration: 'zdm_origin_request_duration_seconds',
  targetDuration: 'zdm_target_request_duration_seconds',
  failedReads: 'zdm_proxy_failed_reads_total',
  failedWrites: 'zdm_proxy_failed_writes_total',
  clientConnections: 'zdm_client_connections_total',
} as const;

export function readProxyScrape(text: string): ProxyScrape {
  const families = parsePrometheusText(text);
  if (!families.has(METRIC.requestDuration)) {
    throw new Error(`no ${METRIC.requestDuration} in the scrape: is this a zdm-proxy's /metrics?`);
  }
  const duration = families.get(METRIC.requestDuration);
  const asyncDuration = families.get(METRIC.asyncDuration);
  const failedReads = families.get(METRIC.failedReads);
  const failedWrites = families.get(METRIC.failedWrites);
  const sent = (name: string) => {
    const family = families.get(name);
    return { reads: readHistogram(family, { type: 'reads' })?.count ?? 0, writes: readHistogram(family, { type: 'writes' })?.count ?? 0 };
  };
  return {
    requests: {
      writes: readHistogram(duration, { type: 'writes' }) ?? EMPTY_HISTOGRAM,
      reads_origin: readHistogram(duration, { type: 'reads_origin' }) ?? EMPTY_HISTOGRAM,
      reads_target: readHistogram(duration, { type: 'reads_target' }) ?? EMPTY_HISTOGRAM,
      async_reads: readHistogram(asyncDuration) ?? EMPTY_HISTOGRAM,
    },
    clusterRequests: { origin: sent(METRIC.originDuration), target: sent(METRIC.targetDuration) },
    failedReads: {
      origin: readValue(failedReads, { cluster: 'origin' }) ?? 0,
      target: readValue(failedReads, { cluster: 'target' }) ?? 0,
    },
    failedWrites: {
      origin: readValue(failedWrites, { failed_on: 'origin' }) ?? 0,
      target: readValue(failedWrites, { failed_on: 'target' }) ?? 0,
      both: readValue(failedWrites, { failed_on: 'both' }) ?? 0,
    },
    clientConnections: readValue(families.get(METRIC.clientConnections)) ?? 0,
  };
}
