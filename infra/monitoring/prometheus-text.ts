/**
 * A parser for the Prometheus text exposition format (version 0.0.4), the
 * format every zdm-proxy serves on `:14001/metrics`. It reads `# HELP` and
 * `# TYPE` lines, samples with quoted and escaped label values, the special
 * values NaN, +Inf and -Inf, and optional timestamps, and groups samples into
 * families the way Prometheus does (a histogram `x` owns `x_bucket`, `x_sum`
 * and `x_count`). A malformed line is an error naming its line number: a
 * half-read scrape must never pass for a counter that went to zero.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name, e.g. `zdm_proxy_request_duration_seconds_bucket`. */
  name: string;
  labels: Record<string, string>;
  value: number;
  /** Milliseconds since the epoch, when the line carries one. */
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export class PrometheusParseError extends Error {
  constructor(readonly line: number, message: string) {
    super(`metrics text, line ${line}: ${message}`);
    this.name = 'PrometheusParseError';
  }
}

const TYPES: readonly MetricType[] = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Parses a whole scrape; families keep the order in which they first appear. */
export function parsePrometheusText(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      readComment(line, lineNo, families);
      continue;
    }
    const sample = readSample(line, lineNo);
    familyFor(sample.name, families).samples.push(sample);
  }
  return families;
}

function readComment(line: string, lineNo: number, families: Map<string, MetricFamily>): void {
  const m = /^#[ \t]+(HELP|TYPE)[ \t]+([^ \t]+)(?:[ \t]+(.*))?$/.exec(line);
  if (!m) return; // an ordinary comment
  const [, keyword, name, rest = ''] = m as unknown as [string, 'HELP' | 'TYPE', string, string | undefined];
  if (!NAME.test(name) || NAME.exec(name)![0] !== name) throw new PrometheusParseError(lineNo, `"${name}" is not a metric name`);
  const family = families.get(name) ?? { name, type: 'untyped' as MetricType, samples: [] };
  families.set(name, family);
  if (keyword === 'HELP') {
    family.help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
  } else {
    const type = rest.trim() as MetricType;
    if (!TYPES.includes(type)) throw new PrometheusParseError(lineNo, `unknown metric type "${rest.trim()}" for ${name}`);
    if (family.samples.length > 0) throw new PrometheusParseError(lineNo, `TYPE of ${name} comes after its samples`);
    family.type = type;
  }
}

/** The family a sample belongs to: its own name, or the histogram/summary whose suffix it carries. */
function familyFor(sampleName: string, families: Map<string, MetricFamily>): MetricFamily {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const base = families.get(sampleName.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base;
  }
  let family = families.get(sampleName);
  if (!family) {
    family = { name: sampleName, type: 'untyped', samples: [] };
    families.set(sampleName, family);
  }
  return family;
}

function readSample(line: string, lineNo: number): Sample {
  let pos = 0;
  const fail = (message: string): never => {
    throw new PrometheusParseError(lineNo, `${message} at column ${pos + 1}: ${line.length > 120 ? line.slice(0, 120) + '…' : line}`);
  };
  const skipBlanks = () => {
    while (line[pos] === ' ' || line[pos] === '\t') pos++;
  };
  const name = NAME.exec(line)?.[0] ?? fail('expected a metric name');
  pos = name.length;
  const labels: Record<string, string> = {};
  let start = pos;
  skipBlanks();
  if (line[pos] === '{') {
    pos++;
    for (;;) {
      skipBlanks();
      if (line[pos] === '}') {
        pos++;
        break;
      }
      const labelName = LABEL_NAME.exec(line.slice(pos))?.[0] ?? fail('expected a label name');
      pos += labelName.length;
      skipBlanks();
      if (line[pos] !== '=') fail(`expected "=" after label ${labelName}`);
      pos++;
      skipBlanks();
      if (line[pos] !== '"') fail(`expected a quoted value for label ${labelName}`);
      pos++;
      let value = '';
      for (;;) {
        const c = line[pos];
        if (c === undefined) fail(`unterminated value of label ${labelName}`);
        pos++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[pos++];
          if (e === 'n') value += '\n';
          else if (e === '\\' || e === '"') value += e;
          else fail(`unknown escape "\\${e ?? ''}" in label ${labelName}`);
        } else value += c;
      }
      if (labelName in labels) fail(`label ${labelName} appears twice`);
      labels[labelName] = value;
      skipBlanks();
      if (line[pos] === ',') pos++;
      else if (line[pos] !== '}') fail('expected "," or "}" after a label');
    }
    start = pos;
    skipBlanks();
  }
  if (pos === start) fail('expected a blank before the value');
  const fields = line.slice(pos).trim().split(/[ \t]+/);
  if (fields.length < 1 || fields.length > 2 || fields[0] === '') fail('expected a value and an optional timestamp');
  const value = parseValue(fields[0]!) ?? fail(`"${fields[0]}" is not a number`);
  const sample: Sample = { name, labels, value };
  if (fields[1] !== undefined) {
    if (!/^-?\d+$/.test(fields[1])) fail(`"${fields[1]}" is not a timestamp in milliseconds`);
    sample.timestamp = Number(fields[1]);
  }
  return sample;
}

function parseValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** A histogram's series as read from one scrape: cumulative buckets by upper bound, sum and count. */
export interface HistogramValue {
  /** Cumulative counts, sorted by upper bound; the last bound is +Inf. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  return keys.every((k) => a[k] === b[k]);
}

/**
 * The histogram series of `family` whose labels include `match` (e.g.
 * `{type: "writes"}`), or undefined when the scrape has none. Several series
 * matching (say, one per node) are added up, as Prometheus' sum() would.
 */
export function readHistogram(family: MetricFamily | undefined, match: Record<string, string> = {}): HistogramValue | undefined {
  if (!family || family.type !== 'histogram') return undefined;
  const buckets = new Map<number, number>();
  let sum = 0;
  let count = 0;
  let found = false;
  for (const s of family.samples) {
    if (!sameLabels(s.labels, match)) continue;
    found = true;
    if (s.name === `${family.name}_bucket`) {
      const le = parseValue(s.labels.le ?? '');
      if (le === undefined) throw new Error(`${family.name}_bucket has no valid "le" label: ${JSON.stringify(s.labels)}`);
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    } else if (s.name === `${family.name}_sum`) sum += s.value;
    else if (s.name === `${family.name}_count`) count += s.value;
  }
  if (!found) return undefined;
  return { buckets: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c })), sum, count };
}

/** The sum of a counter's or gauge's samples whose labels include `match`; undefined when none matches. */
export function readValue(family: MetricFamily | undefined, match: Record<string, string> = {}): number | undefined {
  if (!family) return undefined;
  const matching = family.samples.filter((s) => s.name === family.name && sameLabels(s.labels, match));
  return matching.length === 0 ? undefined : matching.reduce((t, s) => t + s.value, 0);
}
