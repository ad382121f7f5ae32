/**
 * One load run: `sandboxes` scoped sandboxes started at once against one provider (each: create, one exec, release),
 * optionally against an emulator whose concurrency quota refuses creates past `quota` live sandboxes with a 429 and
 * `Retry-After`, which is how the clouds answer a concurrency limit. The core's `transient` schedule is what waits;
 * this module only counts, on both sides of the wire, and measures. The load test asserts on the counts, the
 * `bench:load` script prints the timings.
 */
import { makeTransient, readiness, RetryPolicy, SandboxProvider, type SandboxError, type SandboxProviderShape } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Clock, Context, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Cloud, providerLayer, type RunningEmulator, startEmulator } from "../emulatedClouds.ts"

export type LoadTarget = Cloud | "local"

export interface LoadOptions {
  /** Sandboxes started at once. */
  readonly sandboxes: number
  /** The emulator's concurrency quota (live sandboxes); ignored for `local`, which has none. */
  readonly quota?: number | undefined
  /** The `Retry-After` (seconds) of a refused create. */
  readonly retryAfterSeconds: number
  /** Retries the client may make per call; generous, since a refused create is expected to wait its turn. */
  readonly maxRetries: number
  /** The total time the schedule may spend on one call. */
  readonly maxElapsed: Duration.Input
  /** Runs once the emulator is up, before the burst (e.g. to add latency). */
  readonly onEmulator?: (emulator: RunningEmulator) => void
}

export interface LoadResult {
  readonly target: LoadTarget
  readonly sandboxes: number
  readonly succeeded: number
  /** One line per sandbox that did not make it (error tag and message). */
  readonly failures: ReadonlyArray<string>
  /** The quota in force (undefined: none). */
  readonly quota: number | undefined
  /** The most sandboxes the emulator held at once (undefined for local: no server to ask). */
  readonly peak: number | undefined
  /** Create requests the server received (for local: create calls made). */
  readonly attempts: number
  /** Create requests the server refused with 429 (RESOURCE_EXHAUSTED on Modal). */
  readonly refused: number
  /** Refusals the client's retry schedule saw, in all and at most for one sandbox. */
  readonly refusalsSeen: number
  readonly maxRefusalsOfOne: number
  /** Per successful sandbox: milliseconds from asking to having a handle, waits included. */
  readonly createMs: ReadonlyArray<number>
  /** Milliseconds from starting the burst until every sandbox was released. */
  readonly totalMs: number
  /** Sandboxes left afterwards: in the emulator's registry, plus what the provider still lists under the run's label. */
  readonly leaked: number
}

interface Sample {
  readonly ok: boolean
  readonly failure?: string
  readonly createMs?: number
  readonly refusals: number
}

/**
 * The transient schedule with these bounds, counting the RateLimited refusals it is shown. Every decision sees the
 * error that caused it; when all calls end in success, each refusal seen was followed by another attempt. An error
 * can pass two schedules (an adapter's own retry of 503s inside the core's retry of its create), so refusals are
 * counted once per error value.
 */
const countingPolicy = (options: LoadOptions, onRefusal: () => void) => {
  const seen = new WeakSet<object>()
  return {
    transient: makeTransient({ maxRetries: options.maxRetries, maxElapsed: options.maxElapsed }).pipe(
      Schedule.tap(({ input }) =>
        Effect.sync(() => {
          if (input._tag !== "RateLimited" || seen.has(input)) return
          seen.add(input)
          onRefusal()
        })
      )
    ),
    readiness
  }
}

const oneSandbox = (provider: SandboxProviderShape, label: Record<string, string>, options: LoadOptions) =>
  Effect.gen(function*() {
    let refusals = 0
    const policy = countingPolicy(options, () => void refusals++)
    const started = yield* Clock.currentTimeMillis
    const outcome = yield* Effect.result(Effect.scoped(Effect.gen(function*() {
      const sandbox = yield* provider.create({ labels: label })
      const createMs = (yield* Clock.currentTimeMillis) - started
      const result = yield* sandbox.exec("echo ok")
      if (result.exitCode !== 0 || result.stdout !== "ok\n") {
        return yield* Effect.fail(`exec answered exit ${result.exitCode}, stdout ${JSON.stringify(result.stdout)}`)
      }
      return createMs
    })).pipe(Effect.provideService(RetryPolicy, policy)))
    if (outcome._tag === "Success") return { ok: true, createMs: outcome.success, refusals } satisfies Sample
    const error: SandboxError | string = outcome.failure
    const failure = typeof error === "string" ? error : `${error._tag}: ${error.message}`
    return { ok: false, failure, refusals } satisfies Sample
  })

const providerOf = (layer: Layer.Layer<SandboxProvider, SandboxError>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, SandboxProvider))

/** A fresh local root for the run, removed afterwards. */
const localRoot = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "sandkit-load-"))),
  (root) => Effect.promise(() => rm(root, { recursive: true, force: true }))
)

/** Run the burst against `target` in the current scope (the emulator, if any, stops when it closes). */
export const runLoad = (target: LoadTarget, options: LoadOptions): Effect.Effect<LoadResult, SandboxError, Scope.Scope> =>
  Effect.gen(function*() {
    const label = { load: `l${Math.random().toString(36).slice(2, 12)}` }
    let emulator: RunningEmulator | undefined
    let provider: SandboxProviderShape
    let localCreates = 0
    if (target === "local") {
      const root = yield* localRoot
      const local = yield* providerOf(LocalProvider.layer({ root }))
      // No server to count requests: count the calls instead.
      provider = { ...local, create: (spec) => Effect.andThen(Effect.sync(() => localCreates++), local.create(spec)) }
    } else {
      emulator = yield* startEmulator(target)
      if (options.quota !== undefined) {
        emulator.registry.setQuota(options.quota, { status: 429, retryAfter: options.retryAfterSeconds })
      }
      options.onEmulator?.(emulator)
      provider = yield* providerOf(providerLayer(target, emulator.connection))
    }
    const started = yield* Clock.currentTimeMillis
    const samples = yield* Effect.forEach(
      Array.from({ length: options.sandboxes }),
      () => oneSandbox(provider, label, options),
      { concurrency: "unbounded" }
    )
    const totalMs = (yield* Clock.currentTimeMillis) - started
    const listed = yield* provider.list({ labels: label })
    const creates = emulator?.log.entries(emulator.createRoute) ?? []
    return {
      target,
      sandboxes: options.sandboxes,
      succeeded: samples.filter((s) => s.ok).length,
      failures: samples.flatMap((s) => (s.failure === undefined ? [] : [s.failure])),
      quota: emulator === undefined ? undefined : options.quota,
      peak: emulator?.registry.peak,
      attempts: emulator === undefined ? localCreates : creates.length,
      refused: creates.filter((entry) => entry.status === 429).length,
      refusalsSeen: samples.reduce((n, s) => n + s.refusals, 0),
      maxRefusalsOfOne: Math.max(0, ...samples.map((s) => s.refusals)),
      createMs: samples.flatMap((s) => (s.createMs === undefined ? [] : [s.createMs])),
      totalMs,
      leaked: (emulator?.registry.size ?? 0) + listed.length
    }
  })

/** The `q`-quantile (0..1) of `values` by the nearest-rank method; NaN when there are none. */
export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1]!
}

/** Defaults of the load scenario of issue #10: 100 at once, a quota of 20, refusals with `Retry-After: 1`. */
export const defaultLoad: LoadOptions = {
  sandboxes: 100,
  quota: 20,
  retryAfterSeconds: 1,
  maxRetries: 30,
  maxElapsed: Duration.minutes(5)
}
