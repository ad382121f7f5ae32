/**
 * Helpers for tests that drive an adapter against an emulator: real-time waits (network I/O needs them whatever clock
 * a test runs on), a fast retry policy, extracting the typed failure of an `Exit`, and the after-test check that
 * nothing was left behind. Test-runner agnostic: a failed check is a defect carrying a plain `Error`.
 */
import { makeReadiness, makeTransient, type SandboxError, type SandboxProviderShape } from "@sandkit/core"
import { Cause, type Duration, Effect, Exit } from "effect"
import type { Faults } from "./Faults.ts"
import type { RequestLog } from "./RequestLog.ts"

/** Sleep in real time, even under `TestClock`. */
export const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/** Poll (in real time, every 10 ms) until `predicate` holds; die after `timeoutMs` (default 20 s). */
export const waitUntil = (what: string, predicate: () => boolean, timeoutMs = 20_000): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let waited = 0; waited < timeoutMs; waited += 10) {
      if (predicate()) return
      yield* realSleep(10)
    }
    if (!predicate()) return yield* Effect.die(new Error(`timed out waiting until ${what}`))
  })

export interface FastPolicyOptions {
  /** Readiness polls before `StartupTimeout`. Default 50. */
  readonly readinessTries?: number
  /** Between readiness polls. Default 10 ms. */
  readonly readinessSpacing?: Duration.Input
}

/** A `RetryPolicy` value for tests: `retries` transient retries 1 ms apart without jitter, quick readiness polls. */
export const fastPolicy = (retries: number, options: FastPolicyOptions = {}) => ({
  transient: makeTransient({ base: "1 millis", factor: 1, maxRetries: retries, jitter: false }),
  readiness: makeReadiness({ spacing: options.readinessSpacing ?? "10 millis", tries: options.readinessTries ?? 50 })
})

/** The typed error an `Exit` failed with; throws when it succeeded or failed with a defect/interruption only. */
export const failureOf = <A, E = SandboxError>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") throw new Error(`expected a failure, got ${Cause.pretty(exit.cause)}`)
  return error.value
}

/** What `expectClean` needs of an emulator (every cloud emulator has it). */
export interface InspectableEmulator {
  readonly faults: Faults
  readonly registry: { ids(): ReadonlyArray<string>; clearKnobs(): unknown }
  readonly log: RequestLog
  /** Resolves when background work (e.g. asynchronous deletes) has finished. */
  readonly settled?: () => Promise<void>
}

/**
 * After a test: wait for the emulator's background work, reset its knobs, then check that nothing is left — neither
 * in the emulator's registry nor in the provider's `list()` — and clear the request log for the next test.
 */
export const expectClean = (emulator: InspectableEmulator, provider: SandboxProviderShape) =>
  Effect.gen(function*() {
    if (emulator.settled !== undefined) yield* Effect.promise(emulator.settled)
    emulator.faults.clear()
    emulator.registry.clearKnobs()
    const left = emulator.registry.ids()
    if (left.length > 0) return yield* Effect.die(new Error(`emulator registry is not empty: ${left.join(", ")}`))
    const listed = yield* provider.list()
    if (listed.length > 0) return yield* Effect.die(new Error(`list() is not empty: ${listed.map((s) => s.id).join(", ")}`))
    emulator.log.clear()
  })
