import { describe, expect, it } from "@effect/vitest"
import {
  binomialCdf,
  compositeScore,
  leaderboardTimeScore,
  mean,
  medianInterval,
  quantile,
  standardDeviation,
  summarize
} from "../src/stats.ts"

/** Exact binomial tail with BigInt, to check the floating-point one against. */
const exactCdf = (k: number, n: number): number => {
  let term = 1n // C(n, 0)
  let sum = 0n
  for (let i = 0; i <= k; i++) {
    sum += term
    term = (term * BigInt(n - i)) / BigInt(i + 1)
  }
  return Number((sum * 10n ** 18n) / 2n ** BigInt(n)) / 1e18
}

describe("quantiles (linear interpolation, type 7)", () => {
  it("interpolates between order statistics", () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5)
    expect(quantile([1, 2, 3, 4], 0.95)).toBeCloseTo(3.85, 12)
    expect(quantile([1, 2, 3, 4], 0.99)).toBeCloseTo(3.97, 12)
    expect(quantile([1, 2, 3, 4], 0)).toBe(1)
    expect(quantile([1, 2, 3, 4], 1)).toBe(4)
    expect(quantile([7], 0.99)).toBe(7)
  })

  it("rejects empty input and out-of-range quantiles", () => {
    expect(() => quantile([], 0.5)).toThrow(RangeError)
    expect(() => quantile([1], 1.5)).toThrow(RangeError)
  })
})

describe("summarize", () => {
  it("gives every statistic for 1..10", () => {
    const s = summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    expect(s.n).toBe(10)
    expect(s.min).toBe(1)
    expect(s.max).toBe(10)
    expect(s.p50).toBe(5.5)
    expect(s.p95).toBeCloseTo(9.55, 12)
    expect(s.p99).toBeCloseTo(9.91, 12)
    expect(s.mean).toBe(5.5)
    expect(s.sd).toBeCloseTo(Math.sqrt(55 / 6), 12)
    // 95 % CI of the median for n = 10: ranks 2 and 9, coverage 1 − 2·11/1024
    expect(s.medianCI).toEqual({ low: 2, high: 9, lowRank: 2, highRank: 9, coverage: 1 - 22 / 1024 })
  })

  it("has no standard deviation for one sample and no CI below six", () => {
    const one = summarize([3])
    expect(one.sd).toBeUndefined()
    expect(one.medianCI).toBeUndefined()
    expect(summarize([1, 2, 3, 4, 5]).medianCI).toBeUndefined()
  })

  it("mean and standard deviation on known values", () => {
    expect(mean([2, 4, 4, 4, 5, 5, 7, 9])).toBe(5)
    // sample sd of that classic set: sqrt(32 / 7)
    expect(standardDeviation([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(Math.sqrt(32 / 7), 12)
  })
})

describe("confidence interval of the median by order statistics", () => {
  const ranks = (n: number) => {
    const ci = medianInterval(Array.from({ length: n }, (_, i) => i + 1))
    return ci === undefined ? undefined : [ci.lowRank, ci.highRank, ci.coverage] as const
  }

  it("matches the binomial tables", () => {
    expect(ranks(5)).toBeUndefined() // 1 − 2/32 = 0.9375 < 0.95
    expect(ranks(6)).toEqual([1, 6, 1 - 2 / 64])
    expect(ranks(10)).toEqual([2, 9, 1 - 22 / 1024])
    // n = 20: P(B ≤ 5) = 21700 / 2^20
    expect(ranks(20)).toEqual([6, 15, 1 - 43400 / 1048576])
    // n = 100: the textbook interval is [x(40), x(61)], coverage ≈ 0.9648
    const r100 = ranks(100)!
    expect([r100[0], r100[1]]).toEqual([40, 61])
    expect(r100[2]).toBeCloseTo(0.9648, 4)
  })

  it("always covers at least 95 %, and the next narrower interval would not", () => {
    for (const n of [6, 7, 11, 19, 30, 31, 50, 99, 257, 1000, 4001]) {
      const ci = medianInterval(Array.from({ length: n }, (_, i) => i))!
      expect(ci.coverage).toBeGreaterThanOrEqual(0.95)
      expect(ci.highRank).toBe(n + 1 - ci.lowRank)
      expect(1 - 2 * binomialCdf(ci.lowRank, n)).toBeLessThan(0.95)
    }
  })

  it("the binomial tail agrees with exact arithmetic", () => {
    for (const [k, n] of [[1, 10], [5, 20], [39, 100], [80, 200], [0, 1], [3, 7]] as const) {
      expect(binomialCdf(k, n)).toBeCloseTo(exactCdf(k, n), 12)
    }
    expect(binomialCdf(-1, 5)).toBe(0)
    expect(binomialCdf(5, 5)).toBe(1)
  })

  it("uses the actual sample values at those ranks", () => {
    const ci = medianInterval([50, 10, 40, 20, 30, 90, 80, 70, 60, 100])!
    expect([ci.low, ci.high]).toEqual([20, 90])
  })
})

describe("leaderboard composite score", () => {
  it("scores a time as 100 × (1 − t / 10 s), clamped at 0", () => {
    expect(leaderboardTimeScore(0)).toBe(100)
    expect(leaderboardTimeScore(1000)).toBe(90)
    expect(leaderboardTimeScore(10_000)).toBe(0)
    expect(leaderboardTimeScore(22_390)).toBe(0)
  })

  it("blends 60 % median, 25 % p95, 15 % p99, times the success rate", () => {
    // The leaderboard's 2026-04-01 Daytona row: 0.11 / 0.28 / 0.29 s, 100 %
    expect(compositeScore({ p50: 110, p95: 280, p99: 290 }, 1)).toBeCloseTo(0.6 * 98.9 + 0.25 * 97.2 + 0.15 * 97.1, 10)
    expect(compositeScore({ p50: 110, p95: 280, p99: 290 }, 1)).toBeCloseTo(98.205, 10)
    // Modal: 2.66 / 11.78 / 22.39 s, 98 %: the tails score 0
    expect(compositeScore({ p50: 2660, p95: 11_780, p99: 22_390 }, 0.98)).toBeCloseTo(0.6 * 73.4 * 0.98, 10)
    expect(compositeScore({ p50: 1, p95: 1, p99: 1 }, 0)).toBe(0)
  })
})
