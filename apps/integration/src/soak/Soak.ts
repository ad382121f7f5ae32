/**
 * The soak as a library: start every target once, run the scenarios (one lane per provider; lanes may run side by
 * side because each target's leftovers are attributed by its own root), check the invariants after each scenario,
 * and return the summary.
 */
import { Effect } from "effect"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Violation } from "./Invariants.ts"
import { describeProcess, descendants } from "./Processes.ts"
import { runScenario, type ScenarioResult } from "./Runner.ts"
import { describe as describeScenario, generate, PROVIDERS, type ProviderName } from "./Scenario.ts"
import { formatSummary, scrub, type Summary, summarize } from "./Summary.ts"
import { makeTargets } from "./Targets.ts"

export interface SoakOptions {
  readonly seed: number
  readonly scenarios: number
  readonly providers?: ReadonlyArray<ProviderName>
  /** Run only scenario `only` (its provider and plan are those it has in the full run). */
  readonly only?: number | undefined
  /** Lanes (providers) running at once. Default: all of them. */
  readonly concurrency?: number
  /** The key every emulator accepts (default: each emulator's own fake key). */
  readonly apiKey?: string | undefined
  /** The command that reruns scenario `index` alone. */
  readonly reproduce?: (index: number) => string
  /** Where progress lines go (default: nowhere). */
  readonly print?: (line: string) => void
  /**
   * Stop starting scenarios after this many milliseconds (default: no limit). A bounded run on a loaded machine then
   * ends on time with fewer scenarios, which the summary counts, instead of running into its caller's timeout.
   */
  readonly budgetMs?: number
}

/** After this long a scenario is reported as stalled (it keeps running; the report says which one and how to replay it). */
const STALL_SECONDS = 30

export const defaultReproduce = (seed: number, providers: ReadonlyArray<ProviderName>) => (index: number): string =>
  `pnpm soak --seed ${seed} --only ${index}${providers.join(",") === PROVIDERS.join(",") ? "" : ` --providers ${providers.join(",")}`}`

export const runSoak = (options: SoakOptions): Effect.Effect<Summary, unknown> =>
  Effect.gen(function*() {
    const started = Date.now()
    const providers = options.providers ?? PROVIDERS
    const print = options.print ?? (() => {})
    const reproduce = options.reproduce ?? defaultReproduce(options.seed, providers)
    const indices = options.only === undefined ? Array.from({ length: options.scenarios }, (_, i) => i) : [options.only]
    const lanes = new Map<ProviderName, Array<number>>()
    for (const index of indices) {
      const provider = providers[index % providers.length]!
      lanes.set(provider, [...(lanes.get(provider) ?? []), index])
    }
    const baseline = new Set(descendants().map((p) => p.pid))
    const base = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "sandkit-soak-")))
    // Sandboxes run under uids of their own when this runs as root: they must be able to traverse to their workspace.
    yield* Effect.promise(() => chmod(base, 0o711))
    const runTag = `s${options.seed}`
    const results: Array<ScenarioResult> = []
    let secrets: ReadonlyArray<string> = options.apiKey === undefined ? [] : [options.apiKey]
    let done = 0
    let notStarted = 0
    const every = Math.max(1, Math.floor(indices.length / 20))

    yield* Effect.scoped(Effect.gen(function*() {
      const targets = yield* makeTargets(base, [...lanes.keys()], { apiKey: options.apiKey })
      secrets = [...new Set([...secrets, ...[...targets.values()].flatMap((t) => t.secrets)])]
      yield* Effect.forEach([...lanes], ([name, laneIndices]) =>
        Effect.forEach(laneIndices, (index) =>
          Effect.gen(function*() {
            if (options.budgetMs !== undefined && Date.now() - started > options.budgetMs) {
              notStarted++
              return
            }
            const scenario = generate(options.seed, index, providers)
            // A scenario that hangs would only show as the whole run timing out: name it while it still runs.
            const stalled = setTimeout(() => {
              print(`… scenario ${index} (${describeScenario(scenario)}) still running after ${STALL_SECONDS} s; reproduce: ${reproduce(index)}`)
            }, STALL_SECONDS * 1000)
            const result = yield* runScenario(targets.get(name)!, scenario, runTag).pipe(
              Effect.ensuring(Effect.sync(() => clearTimeout(stalled)))
            )
            results.push(result)
            done++
            if (result.violations.length > 0) {
              print(`✗ scenario ${index} (${describeScenario(scenario)})`)
              for (const v of result.violations) print(`    ${v.kind}: ${scrub(v.detail, secrets)}`)
              print(`    reproduce: ${reproduce(index)}`)
            }
            if (done % every === 0 || done === indices.length) {
              print(`scenario ${done}/${indices.length} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
            }
          }), { discard: true }), { concurrency: options.concurrency ?? lanes.size, discard: true })
    }))

    if (notStarted > 0) print(`time budget of ${options.budgetMs! / 1000} s reached: ${notStarted} scenarios not started`)
    // Once every target is stopped, this process has no child left that it did not have before.
    const runViolations: Array<Violation> = []
    for (let i = 0; i < 100; i++) {
      const extra = descendants().filter((p) => !baseline.has(p.pid))
      if (extra.length === 0) break
      if (i === 99) for (const p of extra) runViolations.push({ kind: "process", detail: `child process left at the end: ${describeProcess(p)}` })
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
    yield* Effect.promise(() => rm(base, { recursive: true, force: true }))
    results.sort((a, b) => a.scenario.index - b.scenario.index)
    return summarize(options.seed, results, { durationMs: Date.now() - started, reproduce, secrets, runViolations })
  })

export { formatSummary }
