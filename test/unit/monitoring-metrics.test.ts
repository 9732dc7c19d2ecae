/**
 * The metric arithmetic behind the lab's monitoring view: the Prometheus
 * text parser on a scrape captured from a real zdm-proxy v2.4.2 (after
 * writes, reads and async reads) and on the format's corner cases, the
 * figures the view reads from a scrape, and histogram quantiles and
 * increases as Prometheus computes them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { addHistograms, histogramIncrease, histogramQuantile } from '../../infra/monitoring/histogram.js';
import { parsePrometheusText, PrometheusParseError, readHistogram, readValue } from '../../infra/monitoring/prometheus-text.js';
import { readProxyScrape } from '../../infra/monitoring/proxy-metrics.js';

const captured = readFileSync(new URL('../fixtures/monitoring/zdm-proxy-2.4.2-metrics.txt', import.meta.url), 'utf8');

describe('the Prometheus text parser', () => {
  test('reads every family of a real zdm-proxy scrape with its type and help', () => {
    const families = parsePrometheusText(captured);
    const duration = families.get('zdm_proxy_request_duration_seconds')!;
    assert.equal(duration.type, 'histogram');
    assert.equal(duration.help, 'Histogram that tracks the latency of requests at proxy entry point');
    // 3 types × (18 buckets + sum + count)
    assert.equal(duration.samples.length, 60);
    assert.equal(families.get('zdm_client_connections_total')?.type, 'gauge');
    assert.equal(families.get('zdm_proxy_failed_writes_total')?.type, 'counter');
    assert.equal(families.get('go_gc_duration_seconds')?.type, 'summary');
    assert.ok(!families.has('zdm_proxy_request_duration_seconds_bucket'), 'buckets belong to their histogram');
  });

  test('a histogram series of the real scrape has cumulative buckets ending at +Inf, its sum and count', () => {
    const h = readHistogram(parsePrometheusText(captured).get('zdm_proxy_request_duration_seconds'), { type: 'reads_origin' })!;
    assert.deepEqual(h.buckets.slice(0, 7), [
      { le: 0.001, count: 0 },
      { le: 0.004, count: 2 },
      { le: 0.007, count: 6 },
      { le: 0.01, count: 8 },
      { le: 0.025, count: 12 },
      { le: 0.04, count: 14 },
      { le: 0.06, count: 14 },
    ]);
    assert.deepEqual(h.buckets.at(-1), { le: Infinity, count: 14 });
    assert.equal(h.count, 14);
    assert.equal(h.sum, 0.17302505999999998);
  });

  test('label values keep escaped quotes, backslashes and newlines; NaN, ±Inf and timestamps are read', () => {
    const families = parsePrometheusText(
      [
        '# HELP odd A help with a \\\\ backslash and a \\n newline',
        '# TYPE odd gauge',
        'odd{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",comma="x,y}"} NaN',
        'odd{path="up"} +Inf 1700000000000',
        'odd{ path = "down" , } -Inf',
        '# a plain comment',
        'untyped_thing 1.5e3',
      ].join('\n'),
    );
    const odd = families.get('odd')!;
    assert.equal(odd.help, 'A help with a \\ backslash and a \n newline');
    assert.deepEqual(odd.samples[0]!.labels, { path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb', comma: 'x,y}' });
    assert.ok(Number.isNaN(odd.samples[0]!.value));
    assert.equal(odd.samples[1]!.value, Infinity);
    assert.equal(odd.samples[1]!.timestamp, 1700000000000);
    assert.deepEqual(odd.samples[2], { name: 'odd', labels: { path: 'down' }, value: -Infinity });
    assert.equal(families.get('untyped_thing')?.type, 'untyped');
    assert.equal(readValue(families.get('untyped_thing')), 1500);
  });

  test('a malformed line is refused with its line number instead of read as zero', () => {
    const bad = (text: string, pattern: RegExp) =>
      assert.throws(() => parsePrometheusText(text), (e: unknown) => e instanceof PrometheusParseError && pattern.test(e.message));
    bad('ok 1\nbroken{type="x" 2', /line 2: expected "," or "}" after a label/);
    bad('a{x="1"} one', /line 1: "one" is not a number/);
    bad('a{x="unterminated} 1', /line 1: unterminated value of label x/);
    bad('# TYPE a histogrum', /line 1: unknown metric type "histogrum"/);
    bad('a{x="1",x="2"} 1', /label x appears twice/);
    bad('a{x="\\t"} 1', /unknown escape "\\t"/);
    bad('a 1 2 3', /expected a value and an optional timestamp/);
  });
});

describe('the figures read from one proxy scrape', () => {
  test('requests by type, async reads, requests per cluster, failures and connections', () => {
    const s = readProxyScrape(captured);
    assert.equal(s.requests.writes.count, 40);
    assert.equal(s.requests.reads_origin.count, 14);
    assert.equal(s.requests.reads_target.count, 0);
    assert.equal(s.requests.async_reads.count, 14);
    assert.deepEqual(s.clusterRequests, { origin: { reads: 14, writes: 40 }, target: { reads: 0, writes: 40 } });
    assert.deepEqual(s.failedReads, { origin: 0, target: 0 });
    assert.deepEqual(s.failedWrites, { origin: 0, target: 0, both: 0 });
    assert.equal(s.clientConnections, 0);
  });

  test('text that is not a zdm-proxy scrape is refused', () => {
    assert.throws(() => readProxyScrape('# TYPE up gauge\nup 1\n'), /no zdm_proxy_request_duration_seconds in the scrape/);
  });
});

describe('histogram arithmetic', () => {
  const readsOrigin = readHistogram(parsePrometheusText(captured).get('zdm_proxy_request_duration_seconds'), { type: 'reads_origin' })!;

  test('quantiles interpolate inside the bucket holding the rank, like histogram_quantile()', () => {
    // rank 7 of 14 lies in (0.007, 0.01], which holds observations 7 and 8
    assert.ok(Math.abs(histogramQuantile(0.5, readsOrigin)! - 0.0085) < 1e-12);
    // rank 13.86 lies in (0.025, 0.04], which holds observations 13 and 14
    assert.ok(Math.abs(histogramQuantile(0.99, readsOrigin)! - (0.025 + 0.015 * (1.86 / 2))) < 1e-12);
  });

  test('no observation gives no quantile; a rank in the +Inf bucket gives the highest finite bound', () => {
    assert.equal(histogramQuantile(0.5, { buckets: [{ le: 0.1, count: 0 }, { le: Infinity, count: 0 }], sum: 0, count: 0 }), undefined);
    assert.equal(histogramQuantile(0.99, { buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 1 }, { le: Infinity, count: 10 }], sum: 50, count: 10 }), 1);
    assert.throws(() => histogramQuantile(99, readsOrigin), /between 0 and 1/);
  });

  test('an increase subtracts bucket by bucket; a counter that went down means a restarted proxy', () => {
    const before = { buckets: [{ le: 0.01, count: 5 }, { le: Infinity, count: 8 }], sum: 0.5, count: 8 };
    const now = { buckets: [{ le: 0.01, count: 9 }, { le: Infinity, count: 20 }], sum: 1.5, count: 20 };
    assert.deepEqual(histogramIncrease(now, before), { buckets: [{ le: 0.01, count: 4 }, { le: Infinity, count: 12 }], sum: 1, count: 12 });
    const restarted = { buckets: [{ le: 0.01, count: 1 }, { le: Infinity, count: 3 }], sum: 0.1, count: 3 };
    assert.deepEqual(histogramIncrease(restarted, now), restarted);
  });

  test('histograms of several proxies add up bucket by bucket', () => {
    const a = { buckets: [{ le: 0.01, count: 1 }, { le: Infinity, count: 2 }], sum: 0.2, count: 2 };
    const b = { buckets: [{ le: 0.01, count: 3 }, { le: Infinity, count: 3 }], sum: 0.03, count: 3 };
    const total = addHistograms([a, b]);
    assert.deepEqual(total.buckets, [{ le: 0.01, count: 4 }, { le: Infinity, count: 5 }]);
    assert.equal(total.count, 5);
    assert.ok(Math.abs(total.sum - 0.23) < 1e-12);
  });
});
