/**
 * Aggregating scenario results into the run's figures (scenarios per provider, faults by class, interruptions,
 * leaks, retries observed against the bound, failures by tag) and printing them. Nothing here holds a credential:
 * violation details are scrubbed of the run's secrets before they are kept.
 */
import type { ViolationKind } from "./Invariants.ts"
import type { ScenarioResult } from "./Runner.ts"
import { describe as describeScenario, type ProviderName } from "./Scenario.ts"

export interface RetryFigure {
  /** Calls that met a transient fault under this layer and class. */
  calls: number
  /** Most retries (attempts − 1) one call made. */
  maxRetriesObserved: number
  /** Retries the bound allows (attempts − 1). */
  retriesAllowed: number
}

export interface FailingScenario {
  readonly index: number
  readonly provider: ProviderName
  readonly scenario: string
  readonly violations: ReadonlyArray<{ readonly kind: ViolationKind; readonly detail: string }>
  readonly reproduce: string
}

export interface Summary {
  readonly seed: number
  readonly scenarios: number
  readonly perProvider: Record<string, number>
  /** Faults armed, by class. */
  readonly faultsInjected: Record<string, number>
  /** Requests answered with a fault by the emulators, by class (a fault armed on a route that was never called is not a hit). */
  readonly faultyAnswers: Record<string, number>
  readonly interruptions: { planned: number; landed: number }
  /** Sandboxes, workspaces or processes left after a scenario. Must be 0. */
  readonly leaks: number
  readonly violations: number
  readonly violationsByKind: Record<string, number>
  /** Keyed `layer/class`, e.g. `core/rateLimit`, `sdk:modal-create/serverError`. */
  readonly retries: Record<string, RetryFigure>
  readonly stepOutcomes: { ok: number; failed: number; interrupted: number }
  readonly failuresByTag: Record<string, number>
  readonly durationMs: number
  readonly failing: ReadonlyArray<FailingScenario>
}

const bump = (record: Record<string, number>, key: string, by = 1) => {
  record[key] = (record[key] ?? 0) + by
}

export const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((out, secret) => (secret.length >= 4 ? out.split(secret).join("<redacted>") : out), text)

export const summarize = (
  seed: number,
  results: ReadonlyArray<ScenarioResult>,
  options: {
    readonly durationMs: number
    readonly reproduce: (index: number) => string
    readonly secrets: ReadonlyArray<string>
    readonly runViolations?: ReadonlyArray<{ readonly kind: ViolationKind; readonly detail: string }>
  }
): Summary => {
  const perProvider: Record<string, number> = {}
  const faultsInjected: Record<string, number> = {}
  const faultyAnswers: Record<string, number> = {}
  const violationsByKind: Record<string, number> = {}
  const retries: Record<string, RetryFigure> = {}
  const failuresByTag: Record<string, number> = {}
  const stepOutcomes = { ok: 0, failed: 0, interrupted: 0 }
  const interruptions = { planned: 0, landed: 0 }
  const failing: Array<FailingScenario> = []
  let leaks = 0
  let violations = 0
  for (const result of results) {
    const s = result.scenario
    bump(perProvider, s.provider)
    for (const [cls, n] of Object.entries(result.injected)) bump(faultsInjected, cls, n ?? 0)
    for (const [cls, n] of Object.entries(result.hits)) bump(faultyAnswers, cls, n ?? 0)
    if (s.interrupt !== undefined) interruptions.planned++
    if (result.interrupted) interruptions.landed++
    for (const step of result.steps) {
      const o = step.outcome
      if (o === undefined || o._tag === "interrupted") stepOutcomes.interrupted++
      else if (o._tag === "ok") stepOutcomes.ok++
      else {
        stepOutcomes.failed++
        bump(failuresByTag, o._tag === "failed" ? o.errorTag : o._tag)
      }
    }
    for (const call of result.calls) {
      const key = `${call.layer}/${call.cls}`
      const figure = retries[key] ?? { calls: 0, maxRetriesObserved: 0, retriesAllowed: call.allowed - 1 }
      figure.calls++
      figure.maxRetriesObserved = Math.max(figure.maxRetriesObserved, call.attempts - 1)
      figure.retriesAllowed = Math.min(figure.retriesAllowed, call.allowed - 1)
      retries[key] = figure
    }
    for (const v of result.violations) {
      violations++
      bump(violationsByKind, v.kind)
      if (v.kind === "leak" || v.kind === "process") leaks++
    }
    if (result.violations.length > 0) {
      failing.push({
        index: s.index,
        provider: s.provider,
        scenario: describeScenario(s),
        violations: result.violations.map((v) => ({ kind: v.kind, detail: scrub(v.detail, options.secrets) })),
        reproduce: options.reproduce(s.index)
      })
    }
  }
  for (const v of options.runViolations ?? []) {
    violations++
    bump(violationsByKind, v.kind)
    if (v.kind === "leak" || v.kind === "process") leaks++
  }
  return {
    seed,
    scenarios: results.length,
    perProvider,
    faultsInjected,
    faultyAnswers,
    interruptions,
    leaks,
    violations,
    violationsByKind,
    retries,
    stepOutcomes,
    failuresByTag,
    durationMs: options.durationMs,
    failing
  }
}

const pairs = (record: Record<string, number>): string =>
  Object.entries(record).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k} ${v}`).join(", ") || "none"

/** The summary as the lines the program prints. */
export const formatSummary = (summary: Summary): ReadonlyArray<string> => [
  `soak summary (seed ${summary.seed})`,
  `  scenarios:        ${summary.scenarios} (${pairs(summary.perProvider)})`,
  `  faults injected:  ${pairs(summary.faultsInjected)}`,
  `  faulty answers:   ${pairs(summary.faultyAnswers)}`,
  `  interruptions:    ${summary.interruptions.landed} landed of ${summary.interruptions.planned} planned`,
  `  steps:            ${summary.stepOutcomes.ok} ok, ${summary.stepOutcomes.failed} failed, ${summary.stepOutcomes.interrupted} interrupted`,
  `  failures by tag:  ${pairs(summary.failuresByTag)}`,
  `  retries (max observed / allowed per call):`,
  ...Object.entries(summary.retries).sort(([a], [b]) => a.localeCompare(b)).map(([key, f]) =>
    `    ${key.padEnd(30)} ${f.maxRetriesObserved} / ${f.retriesAllowed}  (${f.calls} calls)`
  ),
  `  leaks:            ${summary.leaks}`,
  `  violations:       ${summary.violations}${summary.violations === 0 ? "" : ` (${pairs(summary.violationsByKind)})`}`,
  `  duration:         ${(summary.durationMs / 1000).toFixed(1)} s`
]
