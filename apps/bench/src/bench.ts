/**
 * One bench run, start to finish: pick the providers, build them, run the schedule, then — also after Ctrl-C —
 * check for leaks, and write `results.json`, `report.md` and `chart.svg` and print the table.
 */
import { SandkitRun } from "@sandkit/core"
import { Cause, Data, Effect, Exit } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import type { BenchConfig } from "./args.ts"
import { collectEnvironment } from "./environment.ts"
import { costRow, prices } from "./prices.ts"
import type { Progress } from "./progress.ts"
import { buildTargets, type Env, type ProviderEntry, registry, selectProviders } from "./providers.ts"
import { renderMarkdown } from "./report/markdown.ts"
import { renderSvg } from "./report/svg.ts"
import { renderTable } from "./report/table.ts"
import {
  computeScores,
  computeSelfCheck,
  methodNotes,
  reportedMetrics,
  RESULTS_SCHEMA,
  type ResultsFile,
  summarizeSamples,
  type TargetInfo
} from "./results.ts"
import { type Collector, makeCollector, payload, runSchedule, schedule, scheduledSandboxes } from "./runner.ts"
import type { BenchTarget, LeakReport } from "./target.ts"

/** The run could not start (bad provider name, nothing available, every provider failed to start). */
export class BenchSetupError extends Data.TaggedError("BenchSetupError")<{ readonly message: string }> {}

export interface BenchOptions {
  readonly config: BenchConfig
  /** Read only to see which credential variables are set. */
  readonly env: Env
  readonly entries?: ReadonlyArray<ProviderEntry>
  readonly progress: Progress
  /** Standard output: the table and the list of files written. */
  readonly print: (text: string) => void
  /** Called with the outcome once the outputs are written (also after an interrupt, before the interrupt goes on). */
  readonly onWritten?: (outcome: BenchOutcome) => void
}

export interface BenchOutcome {
  readonly results: ResultsFile
  readonly table: string
  readonly files: { readonly json: string; readonly markdown: string; readonly svg: string }
}

export const OWNER = "sandkit-bench"

const targetInfo = (t: BenchTarget): TargetInfo => ({
  key: t.key,
  label: t.label,
  provider: t.provider,
  kind: t.kind,
  variant: t.variant,
  details: t.details
})

/** Assemble `results.json` from what the collector holds. Pure apart from reading the clock for `finishedAt`. */
export const assembleResults = (input: {
  readonly config: BenchConfig
  readonly status: ResultsFile["status"]
  readonly startedAt: Date
  readonly durationMs: number
  readonly environment: ResultsFile["environment"]
  readonly targets: ReadonlyArray<BenchTarget>
  readonly unavailable: ResultsFile["unavailable"]
  readonly notes: ReadonlyArray<string>
  readonly collector: Collector
  readonly leaks: ReadonlyArray<LeakReport>
}): ResultsFile => {
  const { config } = input
  const targets = input.targets.map(targetInfo)
  const metrics = reportedMetrics(config.metrics, config.concurrency)
  const summary = summarizeSamples(input.collector.samples, targets.map((t) => t.key), metrics)
  return {
    schema: RESULTS_SCHEMA,
    runId: config.runId,
    status: input.status,
    startedAt: input.startedAt.toISOString(),
    finishedAt: new Date(input.startedAt.getTime() + input.durationMs).toISOString(),
    durationMs: Math.round(input.durationMs),
    config,
    environment: input.environment,
    targets,
    unavailable: input.unavailable,
    notes: input.notes,
    method: methodNotes,
    samples: input.collector.samples,
    summary,
    scores: computeScores(summary),
    selfCheck: config.selfCheck ? computeSelfCheck(summary, targets, config.injectMs) : undefined,
    leaks: input.leaks,
    cost: {
      asOf: prices.asOf,
      basis: prices.basis,
      currency: prices.currency,
      rows: input.targets.map((t) => costRow(t, input.collector.usage.get(t.key)))
    }
  }
}

export const writeOutputs = (results: ResultsFile, outDir: string): BenchOutcome["files"] => {
  mkdirSync(outDir, { recursive: true })
  const files = {
    json: join(outDir, "results.json"),
    markdown: join(outDir, "report.md"),
    svg: join(outDir, "chart.svg")
  }
  writeFileSync(files.json, JSON.stringify(results, null, 2) + "\n")
  writeFileSync(files.markdown, renderMarkdown(results, { chartFile: "chart.svg" }))
  writeFileSync(files.svg, renderSvg(results, reportedMetrics(results.config.metrics, results.config.concurrency)))
  return files
}

export const runBench = (options: BenchOptions): Effect.Effect<BenchOutcome, BenchSetupError> =>
  Effect.scoped(Effect.gen(function*() {
    const { config, progress } = options
    const entries = options.entries ?? registry()
    const selection = yield* Effect.try({
      try: () => selectProviders(entries, { providers: config.providers, emulate: config.emulate, env: options.env }),
      catch: (error) => new BenchSetupError({ message: (error as Error).message })
    })
    const notes: Array<string> = []
    const emulatedMissing = selection.unavailable.filter((u) => u.kind === "emulated")
    if (emulatedMissing.length > 0) {
      progress.note(`--emulate: not yet available: ${emulatedMissing.map((u) => u.name).join(", ")} (their adapters and emulators have not landed in the bench)`)
    }
    const cloudsMissing = selection.unavailable.filter((u) => u.kind !== "emulated")
    if (cloudsMissing.length > 0) progress.note(`not running: ${cloudsMissing.map((u) => `${u.name} (${u.reason})`).join(", ")}`)
    if (selection.entries.length === 0) return yield* new BenchSetupError({ message: "no provider available to run" })

    const built = yield* buildTargets(selection.entries, {
      runId: config.runId,
      baseline: config.baseline,
      injectMs: config.selfCheck ? config.injectMs : undefined
    })
    for (const f of built.failed) progress.note(`skipping ${f.name}: could not start (${f.reason})`)
    for (const note of built.notes) {
      progress.note(note)
      notes.push(note)
    }
    if (built.targets.length === 0) return yield* new BenchSetupError({ message: "every selected provider failed to start" })
    const unavailable = [...selection.unavailable, ...built.failed]

    const startedAt = new Date()
    const started = performance.now()
    const isolation: Record<string, string> = {}
    for (const t of built.targets) if (t.variant === "sandkit" && t.details.isolation !== undefined) isolation[t.key] = t.details.isolation
    const environment = collectEnvironment({ date: startedAt, seed: config.seed, isolation, ci: (options.env.CI ?? "") !== "" })

    const steps = schedule(built.targets, config)
    const collector = makeCollector()
    const files = { kib: payload(1024, config.seed), mib: payload(1024 * 1024, config.seed) }
    progress.note(
      `run ${config.runId} · seed ${config.seed} · ${built.targets.map((t) => t.label).join(", ")} · ` +
        `${config.iterations} sequential rounds, concurrency ${config.concurrency.join(",")}, out ${config.outDir}`
    )
    progress.start(scheduledSandboxes(steps))

    let outcome: BenchOutcome | undefined
    const finish = (exit: Exit.Exit<void>) =>
      Effect.gen(function*() {
        const status: ResultsFile["status"] = Exit.isSuccess(exit) ? "complete" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"
        if (status === "interrupted") progress.note("interrupted: sandboxes destroyed; writing the partial results")
        progress.finish(status !== "complete")
        const leaks = yield* Effect.forEach(built.targets.flatMap((t) => (t.leakCheck === undefined ? [] : [t.leakCheck])), (check) => check)
        const results = assembleResults({
          config,
          status,
          startedAt,
          durationMs: performance.now() - started,
          environment,
          targets: built.targets,
          unavailable,
          notes,
          collector,
          leaks
        })
        const written = yield* Effect.try(() => writeOutputs(results, config.outDir)).pipe(
          Effect.catch((error) => Effect.sync(() => {
            progress.note(`could not write the results to ${config.outDir}: ${String(error)}`)
            return { json: "", markdown: "", svg: "" }
          }))
        )
        const table = renderTable(results)
        options.print(table + "\n")
        if (written.json !== "") options.print(`\nwrote ${resolve(written.json)}\n      ${resolve(written.markdown)}\n      ${resolve(written.svg)}\n`)
        outcome = { results, table, files: written }
        options.onWritten?.(outcome)
      })

    yield* runSchedule(steps, collector, { metrics: config.metrics, files, progress }).pipe(
      Effect.provideService(SandkitRun, { owner: OWNER, runId: config.runId }),
      Effect.onExit(finish)
    )
    return outcome!
  }))
