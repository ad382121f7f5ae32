/**
 * Descriptive statistics for one set of samples (milliseconds), with no trimming: every sample counts.
 *
 * - Quantiles interpolate linearly between order statistics (Hyndman & Fan type 7, the default of numpy, R and
 *   spreadsheets): with the samples sorted as x[0] ≤ … ≤ x[n−1], q ↦ x at position (n − 1)·q.
 * - The standard deviation is the sample one (divides by n − 1).
 * - The 95 % confidence interval of the median is distribution-free, from order statistics: the number of samples
 *   below the true median is Binomial(n, ½), so [x(j), x(n+1−j)] (1-based ranks) covers the median with probability
 *   1 − 2·P(B ≤ j − 1). We take the narrowest such symmetric interval whose coverage is still ≥ 95 % and report its
 *   exact coverage. Below n = 6 no interval reaches 95 %, and none is given.
 */

export interface MedianInterval {
  readonly low: number
  readonly high: number
  /** 1-based ranks of the order statistics that bound it. */
  readonly lowRank: number
  readonly highRank: number
  /** The exact coverage probability (≥ the requested level). */
  readonly coverage: number
}

export interface Summary {
  readonly n: number
  readonly min: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly mean: number
  /** Sample standard deviation; `undefined` for fewer than 2 samples. */
  readonly sd: number | undefined
  /** 95 % CI of the median by order statistics; `undefined` when n < 6. */
  readonly medianCI: MedianInterval | undefined
}

const ascending = (a: number, b: number) => a - b

/** A sorted copy. */
export const sorted = (values: ReadonlyArray<number>): Array<number> => [...values].sort(ascending)

/** Quantile `q` ∈ [0, 1] of already sorted, non-empty samples, by linear interpolation (type 7). */
export const quantileSorted = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) throw new RangeError("quantile of no samples")
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is outside [0, 1]`)
  const position = (values.length - 1) * q
  const lower = Math.floor(position)
  const upper = Math.ceil(position)
  const a = values[lower]!
  const b = values[upper]!
  return a + (b - a) * (position - lower)
}

/** Quantile `q` of samples in any order. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => quantileSorted(sorted(values), q)

export const mean = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) throw new RangeError("mean of no samples")
  let sum = 0
  for (const v of values) sum += v
  return sum / values.length
}

/** Sample standard deviation (n − 1 in the denominator); `undefined` below 2 samples. Two-pass for accuracy. */
export const standardDeviation = (values: ReadonlyArray<number>): number | undefined => {
  if (values.length < 2) return undefined
  const m = mean(values)
  let squares = 0
  for (const v of values) squares += (v - m) * (v - m)
  return Math.sqrt(squares / (values.length - 1))
}

/** ln(k!) for k = 0…n, by summing logarithms (exact enough for any n a benchmark produces). */
const logFactorials = (n: number): Float64Array => {
  const table = new Float64Array(n + 1)
  for (let k = 2; k <= n; k++) table[k] = table[k - 1]! + Math.log(k)
  return table
}

/** Up to this n, tails of Binomial(n, ½) are summed exactly in integers (2^n still fits a double's range). */
const EXACT_LIMIT = 1000

/**
 * P(B ≤ i) for B ~ Binomial(n, ½), for i = 0, 1, 2, … as long as `more(i, tail)` says so. Exact (integer sums,
 * one rounding) for n ≤ 1000, log-space sums above.
 */
const halfTails = (n: number, more: (i: number, tail: number) => boolean): void => {
  if (n <= EXACT_LIMIT) {
    const total = 2n ** BigInt(n)
    const denominator = Number(total)
    let term = 1n // C(n, 0)
    let sum = 0n
    for (let i = 0; i <= n; i++) {
      sum += term
      if (!more(i, Number(sum) / denominator)) return
      term = (term * BigInt(n - i)) / BigInt(i + 1)
    }
    return
  }
  const lf = logFactorials(n)
  const ln2n = n * Math.LN2
  let tail = 0
  for (let i = 0; i <= n; i++) {
    tail += Math.exp(lf[n]! - lf[i]! - lf[n - i]! - ln2n)
    if (!more(i, Math.min(1, tail))) return
  }
}

/** P(B ≤ k) for B ~ Binomial(n, p); exact for p = ½ and n ≤ 1000. */
export const binomialCdf = (k: number, n: number, p = 0.5): number => {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`)
  if (k < 0) return 0
  if (k >= n) return 1
  if (p <= 0) return 1
  if (p >= 1) return 0
  const last = Math.floor(k)
  if (p === 0.5) {
    let result = 0
    halfTails(n, (i, tail) => {
      result = tail
      return i < last
    })
    return result
  }
  const lf = logFactorials(n)
  const lp = Math.log(p)
  const lq = Math.log1p(-p)
  let total = 0
  for (let i = 0; i <= last; i++) total += Math.exp(lf[n]! - lf[i]! - lf[n - i]! + i * lp + (n - i) * lq)
  return Math.min(1, total)
}

/**
 * The distribution-free confidence interval of the median from order statistics (see the module comment), for
 * samples already sorted. `undefined` when no symmetric interval reaches `level` (n < 6 for 95 %).
 */
export const medianIntervalSorted = (values: ReadonlyArray<number>, level = 0.95): MedianInterval | undefined => {
  const n = values.length
  if (n === 0) return undefined
  // The interval [x(j), x(n+1−j)] misses the median with probability 2·P(B ≤ j − 1): walk j up while it covers.
  let best: { j: number; coverage: number } | undefined
  halfTails(n, (i, tail) => {
    const j = i + 1
    const coverage = 1 - 2 * tail
    if (j > Math.floor((n + 1) / 2) || coverage < level) return false
    best = { j, coverage }
    return true
  })
  if (best === undefined) return undefined
  const { j, coverage } = best
  return { low: values[j - 1]!, high: values[n - j]!, lowRank: j, highRank: n - j + 1, coverage }
}

export const medianInterval = (values: ReadonlyArray<number>, level = 0.95) => medianIntervalSorted(sorted(values), level)

/** Every statistic the reports show. Throws on an empty list (callers report n = 0 themselves). */
export const summarize = (values: ReadonlyArray<number>): Summary => {
  const s = sorted(values)
  if (s.length === 0) throw new RangeError("summary of no samples")
  return {
    n: s.length,
    min: s[0]!,
    p50: quantileSorted(s, 0.5),
    p95: quantileSorted(s, 0.95),
    p99: quantileSorted(s, 0.99),
    max: s[s.length - 1]!,
    mean: mean(s),
    sd: standardDeviation(s),
    medianCI: medianIntervalSorted(s, 0.95)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The public leaderboard's composite score
// ---------------------------------------------------------------------------------------------------------------

/** 100 × (1 − t / 10 s), clamped at 0 (and at 100 for a negative time, which cannot happen). */
export const leaderboardTimeScore = (ms: number): number => Math.min(100, Math.max(0, 100 * (1 - ms / 10_000)))

/**
 * The composite score of the public startup leaderboard (ComputeSDK), computed on time-to-interactive samples:
 * median 60 %, p95 25 %, p99 15 %, each scored with `leaderboardTimeScore`, the blend multiplied by the success rate
 * (0–1). Note: the leaderboard trims its slowest 5 % before computing; we do not, so ours is the stricter figure.
 */
export const compositeScore = (stats: { readonly p50: number; readonly p95: number; readonly p99: number }, successRate: number): number =>
  (0.6 * leaderboardTimeScore(stats.p50) + 0.25 * leaderboardTimeScore(stats.p95) + 0.15 * leaderboardTimeScore(stats.p99)) *
  Math.min(1, Math.max(0, successRate))
