/**
 * The plain runner: no test framework, only Effect. Runs under Node, Bun and Deno.
 */
import { Cause, Clock, Data, Duration, Effect, Exit, Layer } from "effect"
import type { SandboxProvider } from "@sandkit/core"
import { show } from "./Assert.ts"
import { ConformanceSettings, validateLabelPrefix, type ConformanceCheck } from "./Check.ts"
import { conformanceChecks } from "./Checks.ts"

/** A name filter: a substring of the check name, or a regular expression tested against it. */
export type NameFilter = string | RegExp | ReadonlyArray<string | RegExp>

export interface ConformanceOptions {
  /** Run only the checks whose name matches. */
  readonly only?: NameFilter | undefined
  /** Skip the checks whose name matches (applied after `only`). */
  readonly skip?: NameFilter | undefined
  /** Prefix of the `conformance` label value on everything the checks create (e.g. a CI job id). Default `"c"`. */
  readonly label?: string | undefined
  /** Time limit per check. Default 60 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** The checks to run. Default: `conformanceChecks`. */
  readonly checks?: ReadonlyArray<ConformanceCheck> | undefined
  /** Where the report lines go. Default `console.log`. */
  readonly log?: ((line: string) => void) | undefined
}

export interface CheckResult {
  readonly name: string
  readonly status: "passed" | "failed" | "skipped"
  readonly durationMs: number
  /** `Tag: message` of the failure. */
  readonly error?: string | undefined
}

export interface ConformanceSummary {
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  readonly results: ReadonlyArray<CheckResult>
}

/** A check ran past the runner's per-check limit (it was interrupted, so its scope closed and cleaned up). */
export class CheckTimeout extends Data.TaggedError("CheckTimeout")<{ readonly message: string }> {}

export const DEFAULT_CHECK_TIMEOUT: Duration.Duration = Duration.seconds(60)

const matches = (filter: NameFilter, name: string): boolean => {
  const filters: ReadonlyArray<string | RegExp> = typeof filter === "string" || filter instanceof RegExp ? [filter] : filter
  return filters.some((f) => typeof f === "string" ? name.includes(f) : f.test(name))
}

/** Whether `options.only` / `options.skip` select the check. */
export const isSelected = (check: ConformanceCheck, options: Pick<ConformanceOptions, "only" | "skip"> = {}): boolean =>
  (options.only === undefined || matches(options.only, check.name)) &&
  (options.skip === undefined || !matches(options.skip, check.name))

/** The settings the checks read, from the options; throws on an unusable label prefix. */
export const settingsFrom = (options: Pick<ConformanceOptions, "label"> = {}): ConformanceSettings => {
  const labelPrefix = options.label ?? "c"
  const problem = validateLabelPrefix(labelPrefix)
  if (problem !== undefined) throw new TypeError(problem)
  return { labelPrefix }
}

/**
 * One check as a self-contained Effect: its own scope, the settings, and the per-check time limit. What the vitest
 * binding and the plain runner both run.
 */
export const runCheck = (
  check: ConformanceCheck,
  settings: ConformanceSettings = ConformanceSettings.defaultValue(),
  timeout: Duration.Input = DEFAULT_CHECK_TIMEOUT
): Effect.Effect<void, unknown, SandboxProvider> =>
  check.run.pipe(
    Effect.scoped,
    Effect.provideService(ConformanceSettings, settings),
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.fail(new CheckTimeout({ message: `did not finish within ${Duration.format(Duration.fromInputUnsafe(timeout))}` }))
    })
  )

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, " ").trim()

/** `Tag: message` for a failed check's cause. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") return describeError(error.value)
  if (Cause.hasInterruptsOnly(cause)) return "Interrupted"
  return `Defect: ${describeError(Cause.squash(cause))}`
}

const describeError = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : error instanceof Error
      ? error.name
      : undefined
    const message = "message" in error && typeof error.message === "string" ? error.message : ""
    if (tag !== undefined) return oneLine(message === "" ? tag : `${tag}: ${message}`)
  }
  return oneLine(show(error))
}

/** The summary line: `N passed, N failed` plus `, N skipped` when something was skipped. */
export const summaryLine = (summary: Pick<ConformanceSummary, "passed" | "failed" | "skipped">): string =>
  `${summary.passed} passed, ${summary.failed} failed${summary.skipped > 0 ? `, ${summary.skipped} skipped` : ""}`

/** The plain runner as an Effect: builds `layer` once, runs the checks one after another, prints one line each. */
export const runConformanceEffect = <E>(
  layer: Layer.Layer<SandboxProvider, E>,
  options: ConformanceOptions = {}
): Effect.Effect<ConformanceSummary> =>
  Effect.scoped(Effect.gen(function*() {
    const log = options.log ?? ((line: string) => console.log(line))
    const settings = settingsFrom(options)
    const timeout = options.timeout ?? DEFAULT_CHECK_TIMEOUT
    const checks = options.checks ?? conformanceChecks
    const results: Array<CheckResult> = []
    const built = yield* Effect.exit(Layer.build(layer))
    for (const check of checks) {
      if (!isSelected(check, options)) {
        results.push({ name: check.name, status: "skipped", durationMs: 0 })
        log(`- ${check.name} (skipped)`)
        continue
      }
      const start = yield* Clock.currentTimeMillis
      const exit: Exit.Exit<void, unknown> = Exit.isSuccess(built)
        ? yield* Effect.exit(runCheck(check, settings, timeout).pipe(Effect.provideContext(built.value)))
        : Exit.failCause(Cause.map(built.cause, (e) => new LayerFailed({ message: `the provider layer failed: ${describeError(e)}` })))
      const durationMs = (yield* Clock.currentTimeMillis) - start
      if (Exit.isSuccess(exit)) {
        results.push({ name: check.name, status: "passed", durationMs })
        log(`✓ ${check.name} (${durationMs} ms)`)
      } else {
        const error = describeFailure(exit.cause)
        results.push({ name: check.name, status: "failed", durationMs, error })
        log(`✗ ${check.name}: ${error}`)
      }
    }
    const count = (status: CheckResult["status"]) => results.filter((r) => r.status === status).length
    const summary: ConformanceSummary = { passed: count("passed"), failed: count("failed"), skipped: count("skipped"), results }
    log(summaryLine(summary))
    return summary
  }))

class LayerFailed extends Data.TaggedError("LayerFailed")<{ readonly message: string }> {}

/** The plain runner: resolves with the counts once every selected check has run (it never rejects for a failing check). */
export const runConformance = <E>(
  layer: Layer.Layer<SandboxProvider, E>,
  options: ConformanceOptions = {}
): Promise<ConformanceSummary> => Effect.runPromise(runConformanceEffect(layer, options))

interface ProcessLike {
  exitCode?: number | string | undefined | null
}

const setExitCode = (code: number) => {
  const process = (globalThis as { readonly process?: ProcessLike }).process
  if (process !== undefined) process.exitCode = code
}

/**
 * For scripts (`node|bun|deno run conformance.run.ts`): runs the suite and sets the process exit code to 1 when a
 * check failed (or the runner itself broke).
 */
export const runConformanceMain = async <E>(
  layer: Layer.Layer<SandboxProvider, E>,
  options: ConformanceOptions = {}
): Promise<ConformanceSummary | undefined> => {
  try {
    const summary = await runConformance(layer, options)
    if (summary.failed > 0) setExitCode(1)
    return summary
  } catch (error) {
    console.error("conformance runner failed:", error)
    setExitCode(1)
    return undefined
  }
}
