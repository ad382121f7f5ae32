/** Number formatting shared by the table, the Markdown report and the chart. */
import type { SummaryRow } from "../results.ts"
import type { MedianInterval } from "../stats.ts"

/** Milliseconds with precision that fits the magnitude: 0.412, 3.41, 41.2, 412. */
export const ms = (x: number | undefined): string => {
  if (x === undefined || !Number.isFinite(x)) return "—"
  const a = Math.abs(x)
  if (a < 1) return x.toFixed(3)
  if (a < 10) return x.toFixed(2)
  if (a < 100) return x.toFixed(1)
  return x.toFixed(0)
}

/** Milliseconds with a unit, switching to seconds from 10 s. */
export const msUnit = (x: number): string => (Math.abs(x) >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${ms(x)} ms`)

export const pct = (rate: number): string => `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`

export const ci = (interval: MedianInterval | undefined): string =>
  interval === undefined ? "n<6" : `${ms(interval.low)}–${ms(interval.high)}`

export const failures = (row: SummaryRow): string =>
  Object.entries(row.failures).sort(([a], [b]) => a.localeCompare(b)).map(([tag, n]) => `${tag}×${n}`).join(" ")

export const score = (x: number): string => x.toFixed(1)
