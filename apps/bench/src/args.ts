/**
 * The bench's settings, and the parsing of the flags that set them. The parsers are plain functions (tested on their
 * own); `main.ts` wires them into `effect/cli` flags.
 */
import { isMetricId, metricIds, type MetricId } from "./metrics.ts"

export interface BenchConfig {
  /** Provider names to run; empty = every available one (local, clouds with credentials, emulated with `--emulate`). */
  readonly providers: ReadonlyArray<string>
  /** Measured sequential rounds (concurrency 1): one sandbox per provider per round. */
  readonly iterations: number
  /** Rounds per concurrency level above 1: one burst of c sandboxes per provider per round. */
  readonly bursts: number
  /** Concurrency levels, ascending; 1 is the sequential phase. */
  readonly concurrency: ReadonlyArray<number>
  /** Sequential warm-up rounds per provider before anything is measured (reported separately). */
  readonly warmup: number
  /** The operations to run and report (create, tti and destroy always run; they are reported when selected). */
  readonly metrics: ReadonlyArray<MetricId>
  /** Where the outputs go. */
  readonly outDir: string
  readonly seed: number
  /** `raw`: also run each provider's operations without Sandkit (local: bare spawn; clouds: the raw SDK). */
  readonly baseline: "none" | "raw"
  /** Add the clouds' offline emulators. */
  readonly emulate: boolean
  /** Harness accuracy check: each provider against itself with a fixed create latency injected. */
  readonly selfCheck: boolean
  /** The latency the self-check injects. */
  readonly injectMs: number
  /** Label every sandbox with this run id (default: a fresh one). */
  readonly runId: string
}

export const defaults = {
  iterations: 30,
  bursts: 3,
  concurrency: [1, 10] as ReadonlyArray<number>,
  warmup: 2,
  metrics: metricIds as ReadonlyArray<MetricId>,
  injectMs: 150
} as const

/** Thrown by the parsers below with a message for the user. */
export class ArgumentError extends Error {
  override readonly name = "ArgumentError"
}

const splitList = (raw: string): Array<string> =>
  raw.split(",").map((s) => s.trim()).filter((s) => s.length > 0)

/** `"1,10,50"` → `[1, 10, 50]`: positive integers, de-duplicated, ascending. */
export const parseConcurrency = (raw: string): ReadonlyArray<number> => {
  const parts = splitList(raw)
  if (parts.length === 0) throw new ArgumentError("--concurrency needs at least one level, e.g. 1,10,50")
  const levels = parts.map((part) => {
    if (!/^\d+$/.test(part) || Number(part) < 1 || Number(part) > 10_000) {
      throw new ArgumentError(`--concurrency: ${JSON.stringify(part)} is not a whole number from 1 to 10000`)
    }
    return Number(part)
  })
  return [...new Set(levels)].sort((a, b) => a - b)
}

/** `"create,tti"` or `"all"` → metric ids, in the canonical order. */
export const parseMetrics = (raw: string): ReadonlyArray<MetricId> => {
  const parts = splitList(raw)
  if (parts.length === 0 || parts.includes("all")) return metricIds
  for (const part of parts) {
    if (!isMetricId(part)) throw new ArgumentError(`--metrics: unknown metric ${JSON.stringify(part)} (known: ${metricIds.join(", ")}, all)`)
  }
  return metricIds.filter((id) => parts.includes(id))
}

/** `"local,e2b"` → names (validated against the registry later, where the known names live). */
export const parseProviders = (raw: string): ReadonlyArray<string> => {
  const parts = splitList(raw)
  for (const part of parts) {
    if (!/^[a-z0-9-]+$/.test(part)) throw new ArgumentError(`--providers: ${JSON.stringify(part)} is not a provider name`)
  }
  return [...new Set(parts)]
}

export const parseCount = (flag: string, min: number, max: number) => (value: number): number => {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ArgumentError(`--${flag} must be a whole number from ${min} to ${max}, got ${value}`)
  }
  return value
}

export const parseSeed = (raw: string): number => {
  if (!/^\d+$/.test(raw) || Number(raw) > 0xffffffff) throw new ArgumentError(`--seed must be a whole number from 0 to 4294967295`)
  return Number(raw)
}

export const parseRunId = (raw: string): string => {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw)) throw new ArgumentError(`--run-id must be 1-63 characters of [A-Za-z0-9._-]`)
  return raw
}

/** `bench-results/2026-05-04T10-11-12Z`: sortable, no characters any file system dislikes. */
export const defaultOutDir = (date: Date): string =>
  `bench-results/${date.toISOString().replace(/\.\d{3}Z$/, "Z").replaceAll(":", "-")}`
