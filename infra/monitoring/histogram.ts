/**
 * Histogram arithmetic on scraped Prometheus histograms: what happened
 * between two scrapes (the increase of every cumulative bucket, taking a
 * restarted proxy's counters that fell back to zero as a fresh start, the
 * way Prometheus' increase() does), the sum of several proxies' histograms,
 * and a quantile by linear interpolation inside the bucket that holds it,
 * the same estimate as Prometheus' histogram_quantile().
 */
import type { HistogramValue } from './prometheus-text.js';

export const EMPTY_HISTOGRAM: HistogramValue = { buckets: [], sum: 0, count: 0 };

/** What `now` added since `before`; when a counter went down the process restarted, so `now` is all new. */
export function histogramIncrease(now: HistogramValue, before: HistogramValue | undefined): HistogramValue {
  if (!before) return now;
  const reset = now.count < before.count || now.buckets.some((b) => b.count < (before.buckets.find((x) => x.le === b.le)?.count ?? 0));
  if (reset) return now;
  return {
    buckets: now.buckets.map((b) => ({ le: b.le, count: b.count - (before.buckets.find((x) => x.le === b.le)?.count ?? 0) })),
    sum: Math.max(0, now.sum - before.sum),
    count: now.count - before.count,
  };
}

/** Adds histograms bucket by bucket (bounds missing from one count as 0 there). */
export function addHistograms(list: HistogramValue[]): HistogramValue {
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const h of list) {
    for (const b of h.buckets) buckets.set(b.le, (buckets.get(b.le) ?? 0) + b.count);
    sum += h.sum;
    count += h.count;
  }
  return { buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c })), sum, count };
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of the observations in `h`, in the histogram's
 * unit, or undefined when it holds no observation. Within the bucket holding
 * the rank the observations are taken as evenly spread; a rank that falls in
 * the +Inf bucket gets the highest finite bound, as in Prometheus.
 */
export function histogramQuantile(q: number, h: HistogramValue): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new Error(`a quantile is between 0 and 1, got ${q}`);
  const buckets = h.buckets;
  if (buckets.length === 0 || buckets[buckets.length - 1]!.le !== Infinity) return undefined;
  const total = buckets[buckets.length - 1]!.count;
  if (total <= 0) return undefined;
  const rank = q * total;
  const i = buckets.findIndex((b) => b.count >= rank);
  if (i === buckets.length - 1) return buckets.length >= 2 ? buckets[buckets.length - 2]!.le : undefined;
  const upper = buckets[i]!.le;
  if (i === 0 && upper <= 0) return upper;
  const lower = i === 0 ? 0 : buckets[i - 1]!.le;
  const below = i === 0 ? 0 : buckets[i - 1]!.count;
  const inBucket = buckets[i]!.count - below;
  if (inBucket <= 0) return upper;
  return lower + (upper - lower) * ((rank - below) / inBucket);
}
