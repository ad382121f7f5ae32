#!/usr/bin/env node
/**
 * `sandkit-bench`: the cross-provider startup benchmark. See apps/bench/README.md.
 *
 * Ctrl-C (SIGINT) or SIGTERM interrupts the run (NodeRuntime.runMain interrupts the main fiber): every sandbox's
 * scope closes, which destroys it, then the leak check runs and the partial results are written. A second Ctrl-C
 * exits at once.
 */
import { makeRunId } from "@sandkit/core"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import {
  type BenchConfig,
  defaultOutDir,
  defaults,
  parseConcurrency,
  parseCount,
  parseMetrics,
  parseProviders,
  parseRunId,
  parseSeed
} from "./args.ts"
import { runBench } from "./bench.ts"
import { freshSeed } from "./prng.ts"
import { makeProgress } from "./progress.ts"

const VERSION = "0.0.0"
const message = (e: unknown) => (e instanceof Error ? e.message : String(e))

const flags = {
  providers: Flag.String("providers").pipe(
    Flag.withDescription("Comma-separated providers (default: local, every cloud with credentials, emulated clouds with --emulate)"),
    Flag.withDefault(""),
    Flag.mapTryCatch(parseProviders, message)
  ),
  iterations: Flag.Int("iterations").pipe(
    Flag.withDescription(`Measured sequential rounds, one sandbox per provider each (default ${defaults.iterations})`),
    Flag.withDefault(defaults.iterations),
    Flag.mapTryCatch(parseCount("iterations", 1, 100_000), message)
  ),
  bursts: Flag.Int("bursts").pipe(
    Flag.withDescription(`Rounds per concurrency level above 1, one burst of c sandboxes per provider each (default ${defaults.bursts})`),
    Flag.withDefault(defaults.bursts),
    Flag.mapTryCatch(parseCount("bursts", 1, 10_000), message)
  ),
  concurrency: Flag.String("concurrency").pipe(
    Flag.withDescription(`Concurrency levels, e.g. 1,10,50; 1 = sequential (default ${defaults.concurrency.join(",")})`),
    Flag.withDefault(defaults.concurrency.join(",")),
    Flag.mapTryCatch(parseConcurrency, message)
  ),
  warmup: Flag.Int("warmup").pipe(
    Flag.withDescription(`Sequential warm-up rounds before measuring, reported separately (default ${defaults.warmup})`),
    Flag.withDefault(defaults.warmup),
    Flag.mapTryCatch(parseCount("warmup", 0, 10_000), message)
  ),
  metrics: Flag.String("metrics").pipe(
    Flag.withDescription("Metrics to run and report: create,tti,exec,file-1k,file-1m,destroy or all (default all)"),
    Flag.withDefault("all"),
    Flag.mapTryCatch(parseMetrics, message)
  ),
  out: Flag.String("out").pipe(Flag.withDescription("Output directory (default bench-results/<timestamp>)"), Flag.optional),
  seed: Flag.String("seed").pipe(Flag.withDescription("PRNG seed for the provider order (default: random, recorded)"), Flag.optional),
  baseline: Flag.Literals("baseline", ["none", "raw"]).pipe(
    Flag.withDescription("raw: also run the same operations without Sandkit (local: bare spawn; clouds: raw SDK) (default none)"),
    Flag.withDefault("none" as const)
  ),
  emulate: Flag.Boolean("emulate").pipe(
    Flag.withDescription("Add the clouds through their offline emulators (labelled EMULATED everywhere)"),
    Flag.withDefault(false)
  ),
  selfCheck: Flag.Boolean("self-check").pipe(
    Flag.withDescription("Harness accuracy check: each provider against itself with 150 ms injected into create (sequential only)"),
    Flag.withDefault(false)
  ),
  runId: Flag.String("run-id").pipe(Flag.withDescription("Label the sandboxes with this run id (default: fresh)"), Flag.optional)
}

type Flags = {
  readonly [K in keyof typeof flags]: (typeof flags)[K] extends Flag.Flag<infer A> ? A : never
}

export const configFromFlags = (f: Flags, now: Date): BenchConfig => {
  const selfCheck = f.selfCheck
  return {
    providers: f.providers,
    iterations: f.iterations,
    bursts: f.bursts,
    // The self-check is about the sequential create figure; bursts would only add time.
    concurrency: selfCheck ? [1] : f.concurrency,
    warmup: f.warmup,
    metrics: selfCheck && !f.metrics.includes("create") ? ["create", ...f.metrics] : f.metrics,
    outDir: Option.getOrElse(f.out, () => defaultOutDir(now)),
    seed: Option.match(f.seed, { onNone: freshSeed, onSome: parseSeed }),
    baseline: f.baseline,
    emulate: f.emulate,
    selfCheck,
    injectMs: defaults.injectMs,
    runId: Option.match(f.runId, { onNone: makeRunId, onSome: parseRunId })
  }
}

const command = Command.make("sandkit-bench", flags, (f) =>
  Effect.gen(function*() {
    const config = yield* Effect.try({ try: () => configFromFlags(f, new Date()), catch: (e) => new Error(message(e)) })
    const stderr = process.stderr
    const progress = makeProgress(
      { write: (text) => void stderr.write(text), isTTY: stderr.isTTY === true, columns: stderr.columns },
      { ci: (process.env.CI ?? "") !== "" }
    )
    let interrupts = 0
    const onSignal = () => {
      interrupts += 1
      if (interrupts === 1) progress.note("stopping: destroying the sandboxes and writing partial results (Ctrl-C again to quit at once)")
      else process.exit(130)
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
    const outcome = yield* runBench({
      config,
      env: process.env,
      progress,
      print: (text) => void process.stdout.write(text)
    }).pipe(Effect.ensuring(Effect.sync(() => {
      process.off("SIGINT", onSignal)
      process.off("SIGTERM", onSignal)
    })))
    const leaked = outcome.results.leaks.some((l) => l.found.length > 0 || l.error !== undefined)
    if (leaked || outcome.results.selfCheck?.pass === false) process.exitCode = 1
  }).pipe(
    // Setup problems (bad flag values, unknown provider, nothing available): a message and exit code 2.
    Effect.catch((e) =>
      Effect.sync(() => {
        process.stderr.write(`sandkit-bench: ${message(e)}\n`)
        process.exitCode = 2
      }))
  ))

Command.run(command, { version: VERSION }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
