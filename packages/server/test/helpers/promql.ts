/** What a PromQL expression reads: metric names, label names per selector, and grouping labels. */
export interface PromqlUse {
  /** Each vector selector: its metric name and the label names its matchers test. */
  readonly selectors: { readonly metric: string; readonly labels: string[] }[];
  /** Label names in `by (...)`, `without (...)`, `on (...)`, `ignoring (...)`, `group_left/right (...)`. */
  readonly groupingLabels: string[];
  /** Functions and aggregation operators called. */
  readonly functions: string[];
}

/** The PromQL functions and aggregations a dashboard may call (an unknown name is an error). */
const FUNCTIONS = new Set([
  "sum",
  "avg",
  "min",
  "max",
  "count",
  "topk",
  "bottomk",
  "quantile",
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "histogram_quantile",
  "label_values",
  "clamp_min",
  "clamp_max",
  "abs",
  "round",
  "vector",
  "scalar",
  "time",
  "sort",
  "sort_desc",
  "absent",
  "avg_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
]);
const GROUPING = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan"]);

type Token = { kind: "ident" | "string" | "number" | "punct" | "variable"; text: string };

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|(?<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)|(?<variable>\$\{[^}]+\}|\$\w+)|(?<ident>[A-Za-z_:][\w:]*)|(?<number>\d+(?:\.\d+)?(?:[smhdwy]|ms)?)|(?<punct>=~|!~|!=|==|>=|<=|[-+*/%^(){}[\],=<>])/y;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < expression.length && (match = pattern.exec(expression)) !== null) {
    const groups = match.groups ?? {};
    for (const kind of ["string", "variable", "ident", "number", "punct"] as const) {
      const text = groups[kind];
      if (text !== undefined) tokens.push({ kind, text });
    }
  }
  if (pattern.lastIndex < expression.length) {
    throw new Error(`cannot read PromQL at ${JSON.stringify(expression.slice(pattern.lastIndex))}: ${expression}`);
  }
  return tokens;
}

/**
 * Reads a PromQL expression (with Grafana's `$var` / `${var}` placeholders) far enough to list what
 * it uses: enough for a dashboard check, not a full PromQL parser. Throws on text it cannot read or
 * an unknown function.
 */
export function promqlUse(expression: string): PromqlUse {
  const tokens = tokenize(expression);
  const selectors: { metric: string; labels: string[] }[] = [];
  const groupingLabels: string[] = [];
  const functions: string[] = [];
  const labelList = (start: number): { labels: string[]; end: number } => {
    if (tokens[start]?.text !== "(") throw new Error(`expected "(" after a grouping keyword: ${expression}`);
    const labels: string[] = [];
    let index = start + 1;
    for (; tokens[index] !== undefined && tokens[index]!.text !== ")"; index++) {
      if (tokens[index]!.kind === "ident") labels.push(tokens[index]!.text);
    }
    return { labels, end: index };
  };
  const matchers = (start: number): { labels: string[]; end: number } => {
    const labels: string[] = [];
    let index = start + 1;
    for (; tokens[index] !== undefined && tokens[index]!.text !== "}"; index++) {
      const token = tokens[index]!;
      if (token.kind === "ident" && ["=", "!=", "=~", "!~"].includes(tokens[index + 1]?.text ?? "")) {
        labels.push(token.text);
      }
    }
    return { labels, end: index };
  };
  for (let index = 0; index < tokens.length; index++) {
    const token = tokens[index]!;
    if (token.text === "[") {
      while (tokens[index] !== undefined && tokens[index]!.text !== "]") index++;
      continue;
    }
    if (token.text === "{") {
      // A selector without a metric name ({__name__=...}) is not used by this project's dashboards.
      throw new Error(`a selector without a metric name: ${expression}`);
    }
    if (token.kind !== "ident") continue;
    const next = tokens[index + 1]?.text;
    if (GROUPING.has(token.text)) {
      const list = labelList(index + 1);
      groupingLabels.push(...list.labels);
      index = list.end;
    } else if (KEYWORDS.has(token.text.toLowerCase())) {
      continue;
    } else if (next === "(" || (FUNCTIONS.has(token.text) && GROUPING.has(next ?? ""))) {
      if (!FUNCTIONS.has(token.text)) throw new Error(`unknown PromQL function ${token.text}: ${expression}`);
      functions.push(token.text);
      if (token.text === "label_values") {
        // label_values(metric, label): Grafana's variable query, not PromQL.
        const metric = tokens[index + 2]?.text ?? "";
        const label = tokens[index + 4]?.text ?? "";
        selectors.push({ metric, labels: [label] });
        index += 5;
      }
    } else {
      const selector = { metric: token.text, labels: [] as string[] };
      if (next === "{") {
        const found = matchers(index + 1);
        selector.labels.push(...found.labels);
        index = found.end;
      }
      selectors.push(selector);
    }
  }
  return { selectors, groupingLabels, functions };
}

/** Metric name → the label names its samples carry, from Prometheus text exposition (samples only). */
export function exposedSeries(metricsText: string): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  for (const line of metricsText.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line);
    if (match === null) continue;
    const labels = series.get(match[1]!) ?? new Set<string>();
    for (const pair of (match[2] ?? "").matchAll(/([A-Za-z_]\w*)="/g)) labels.add(pair[1]!);
    series.set(match[1]!, labels);
  }
  return series;
}
