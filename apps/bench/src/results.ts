/**
 * `results.json`: every raw sample plus the figures derived from them. Everything under `summary`, `scores` and
 * `selfCheck` is recomputed from `samples` by the functions here (a test checks the printed table against them).
 */
import type { BenchConfig } from "./args.ts"
import type { Environment } from "./environment.ts"
import { recordedMetricOrder, type MetricId, type RecordedMetric } from "./metrics.ts"
import type { CostRow } from "./prices.ts"
import type { Phase, Sample } from "./runner.ts"
import { compositeScore, summarize, type Summary } from "./stats.ts"
import type { LeakReport, TargetKind, TargetVariant } from "./target.ts"

export const RESULTS_SCHEMA = "sandkit-bench/results@1"

export interface TargetInfo {
  readonly key: string
  readonly label: string
  readonly provider: string
  readonly kind: TargetKind
  readonly variant: TargetVariant
  readonly details: Readonly<Record<string, string>>
}

export interface SummaryRow {
  readonly target: string
  readonly phase: Phase
  readonly concurrency: number
  readonly metric: RecordedMetric
  /** Operations tried. */
  readonly attempts: number
  /** Failures by error tag. */
  readonly failures: Readonly<Record<string, number>>
  /** successes / attempts. */
  readonly successRate: number
  /** Over the successful samples; absent when none succeeded. */
  readonly stats?: Summary | undefined
}

export interface ScoreRow {
  readonly target: string
  readonly concurrency: number
  readonly successRate: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** The leaderboard composite (0–100) on time-to-interactive. */
  readonly score: number
}

export interface SelfCheckRow {
  readonly target: string
  readonly twin: string
  readonly injectedMs: number
  readonly baseP50: number
  readonly injectedP50: number
  /** injectedMs + baseP50. */
  readonly expected: number
  /** (injectedP50 − expected) / expected × 100. */
  readonly deviationPct: number
  readonly pass: boolean
}

export interface SelfCheck {
  readonly tolerancePct: number
  readonly rows: ReadonlyArray<SelfCheckRow>
  readonly pass: boolean
}

export interface ResultsFile {
  readonly schema: typeof RESULTS_SCHEMA
  readonly runId: string
  /** `interrupted`: stopped by Ctrl-C / SIGTERM; the samples are what was measured until then. */
  readonly status: "complete" | "interrupted" | "failed"
  readonly startedAt: string
  readonly finishedAt: string
  readonly durationMs: number
  readonly config: Omit<BenchConfig, "outDir"> & { readonly outDir: string }
  readonly environment: Environment
  readonly targets: ReadonlyArray<TargetInfo>
  readonly unavailable: ReadonlyArray<{ readonly name: string; readonly kind: TargetKind; readonly reason: string }>
  readonly notes: ReadonlyArray<string>
  readonly method: Readonly<Record<string, string>>
  readonly samples: ReadonlyArray<Sample>
  readonly summary: ReadonlyArray<SummaryRow>
  readonly scores: ReadonlyArray<ScoreRow>
  readonly selfCheck?: SelfCheck | undefined
  readonly leaks: ReadonlyArray<LeakReport>
  readonly cost: { readonly asOf: string; readonly basis: string; readonly currency: string; readonly rows: ReadonlyArray<CostRow> }
}

/** Which metrics the report shows: the selected ones, plus the per-burst one when a level above 1 ran. */
export const reportedMetrics = (metrics: ReadonlyArray<MetricId>, concurrency: ReadonlyArray<number>): ReadonlyArray<RecordedMetric> =>
  recordedMetricOrder.filter((m) => m === "burst-ready" ? concurrency.some((c) => c > 1) : (metrics as ReadonlyArray<string>).includes(m))

/**
 * Group the samples by (phase, concurrency, target, metric) and summarise each group. Order: measured before warm-up,
 * concurrency ascending, targets in `targetOrder`, metrics in report order. Groups with no attempt are left out.
 */
export const summarizeSamples = (
  samples: ReadonlyArray<Sample>,
  targetOrder: ReadonlyArray<string>,
  metrics: ReadonlyArray<RecordedMetric>
): Array<SummaryRow> => {
  const groups = new Map<string, Array<Sample>>()
  const keyOf = (phase: Phase, c: number, target: string, metric: string) => `${phase}\u0000${c}\u0000${target}\u0000${metric}`
  for (const sample of samples) {
    const key = keyOf(sample.phase, sample.concurrency, sample.target, sample.metric)
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = [])
    group.push(sample)
  }
  const levels = [...new Set(samples.map((s) => s.concurrency))].sort((a, b) => a - b)
  const rows: Array<SummaryRow> = []
  for (const phase of ["measured", "warmup"] as const) {
    for (const c of levels) {
      for (const target of targetOrder) {
        for (const metric of metrics) {
          const group = groups.get(keyOf(phase, c, target, metric))
          if (group === undefined || group.length === 0) continue
          const ok = group.filter((s) => s.ok).map((s) => s.ms!)
          const failures: Record<string, number> = {}
          for (const s of group) if (!s.ok) failures[s.error!.tag] = (failures[s.error!.tag] ?? 0) + 1
          rows.push({
            target,
            phase,
            concurrency: c,
            metric,
            attempts: group.length,
            failures,
            successRate: ok.length / group.length,
            stats: ok.length === 0 ? undefined : summarize(ok)
          })
        }
      }
    }
  }
  return rows
}

/** The leaderboard composite on measured time-to-interactive, per target and concurrency. */
export const computeScores = (summary: ReadonlyArray<SummaryRow>): Array<ScoreRow> =>
  summary
    .filter((row) => row.phase === "measured" && row.metric === "tti" && row.stats !== undefined)
    .map((row) => ({
      target: row.target,
      concurrency: row.concurrency,
      successRate: row.successRate,
      p50: row.stats!.p50,
      p95: row.stats!.p95,
      p99: row.stats!.p99,
      score: compositeScore(row.stats!, row.successRate)
    }))

/**
 * The harness self-check: for each target with a latency-injected twin, the twin's measured sequential create p50
 * must equal the target's own p50 + the injected latency, within ±tolerance %.
 */
export const computeSelfCheck = (
  summary: ReadonlyArray<SummaryRow>,
  targets: ReadonlyArray<TargetInfo>,
  injectedMs: number,
  tolerancePct = 5
): SelfCheck => {
  const p50 = (key: string) =>
    summary.find((r) => r.target === key && r.phase === "measured" && r.concurrency === 1 && r.metric === "create")?.stats?.p50
  const rows: Array<SelfCheckRow> = []
  for (const twin of targets.filter((t) => t.variant === "injected")) {
    const base = targets.find((t) => t.provider === twin.provider && t.kind === twin.kind && t.variant === "sandkit")
    if (base === undefined) continue
    const baseP50 = p50(base.key)
    const injectedP50 = p50(twin.key)
    if (baseP50 === undefined || injectedP50 === undefined) continue
    const expected = injectedMs + baseP50
    const deviationPct = ((injectedP50 - expected) / expected) * 100
    rows.push({ target: base.key, twin: twin.key, injectedMs, baseP50, injectedP50, expected, deviationPct, pass: Math.abs(deviationPct) <= tolerancePct })
  }
  return { tolerancePct, rows, pass: rows.length > 0 && rows.every((r) => r.pass) }
}

export const methodNotes: Readonly<Record<string, string>> = {
  clock: "performance.now() (monotonic), taken in the benchmarking process around each Sandkit call",
  quantiles: "linear interpolation between order statistics (Hyndman & Fan type 7, as numpy/R/spreadsheets)",
  sd: "sample standard deviation (n − 1)",
  medianCI:
    "95 % confidence interval of the median by order statistics (binomial, distribution-free): [x(j), x(n+1−j)] with the largest j whose coverage 1 − 2·P(Bin(n, ½) ≤ j−1) is still ≥ 95 %; none below n = 6",
  trimming: "none: every sample counts; failures are counted by error tag and lower the success rate",
  order: "target order shuffled before every round with a seeded PRNG (mulberry32)",
  warmup: "warm-up rounds are run first and reported separately, never mixed into the measured statistics",
  concurrency: "a round at concurrency c creates c sandboxes at once, then runs each operation c at a time",
  score: "public leaderboard composite on time to interactive: 60 % median + 25 % p95 + 15 % p99, each 100 × (1 − t / 10 s) clamped at 0, times the success rate; the leaderboard trims its slowest 5 %, we do not"
}
