/**
 * Fault scenarios that read the same on every cloud: the steps and the checks, with what differs between clouds (the
 * create route's name, the status a successful create answers, the retry policy) passed in. Each cloud's fault tests
 * call these, so "429 + Retry-After is honoured" means one thing everywhere. Test-runner agnostic like the rest of
 * the testkit: a failed check is a defect carrying a plain `Error` that names what was expected and what was seen.
 */
import { RetryPolicy, type SandboxError, type SandboxProviderShape } from "@sandkit/core"
import { Cause, Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import type { Faults } from "./Faults.ts"
import type { RequestLog } from "./RequestLog.ts"
import { failureOf, fastPolicy, realSleep, waitUntil } from "./testHelpers.ts"

/** What a scenario drives: the adapter, and the emulator's fault knobs and request log behind it. */
export interface FaultTarget {
  readonly provider: SandboxProviderShape
  readonly faults: Faults
  readonly log: RequestLog
  /** The create route's name in the log and the fault knobs. */
  readonly createRoute: string
  /** Readiness polls a create may take on this emulator (default: `fastPolicy`'s). */
  readonly readinessTries?: number
}

/** Fail the scenario unless `actual` and `expected` are the same (as JSON). */
export const expectEqual = (actual: unknown, expected: unknown, what: string): Effect.Effect<void> => {
  const [a, e] = [JSON.stringify(actual), JSON.stringify(expected)]
  return a === e ? Effect.void : Effect.die(new Error(`${what}: expected ${e}, got ${a}`))
}

/** `fastPolicy` with `retries`, leaving room for the emulator's readiness polls when it needs more than the default. */
const policy = (retries: number, readinessTries: number | undefined) =>
  fastPolicy(retries, readinessTries === undefined ? {} : { readinessTries })

/**
 * Runs under `TestClock`. Two creates answered 429 with `Retry-After: 1`, then one accepted (`acceptedStatus`):
 * nothing is re-sent before a full second has passed on the clock, each time; exactly three creates reach the
 * server; the sandbox works; it is destroyed at the end.
 */
export const createHonoursRetryAfter = (target: FaultTarget, acceptedStatus: number) =>
  Effect.gen(function*() {
    const { createRoute, faults, log, provider } = target
    faults.rateLimitNext(createRoute, { times: 2, retryAfter: 1 })
    const fiber = yield* Effect.forkChild(provider.createDetached())
    const creates = () => log.count(createRoute)
    for (const sent of [1, 2]) {
      yield* waitUntil(`create number ${sent}`, () => creates() === sent)
      yield* TestClock.adjust("999 millis")
      yield* realSleep(100)
      yield* expectEqual(creates(), sent, `creates sent 999 ms after 429 number ${sent} (Retry-After: 1 s)`)
      yield* TestClock.adjust("1 millis")
    }
    const sandbox = yield* Fiber.join(fiber)
    yield* expectEqual(log.entries(createRoute).map((e) => e.status), [429, 429, acceptedStatus], "create statuses")
    yield* expectEqual((yield* sandbox.exec("echo ok")).stdout, "ok\n", "stdout of a command in the sandbox")
    yield* sandbox.destroy
  })

/**
 * With no core retries, a create answered 429 with `Retry-After: 7` fails at once with `RateLimited` carrying the
 * 7 s: one create on the wire, so the SDK did not retry it on its own either.
 */
export const rateLimitReachesCaller = (target: FaultTarget) =>
  Effect.gen(function*() {
    const { createRoute, faults, log, provider } = target
    faults.rateLimitNext(createRoute, { times: 3, retryAfter: 7 })
    const error = failureOf(yield* Effect.exit(provider.createDetached().pipe(Effect.provideService(RetryPolicy, policy(0, target.readinessTries)))))
    yield* expectEqual(error._tag, "RateLimited", "error")
    const retryAfter = error._tag === "RateLimited" && error.retryAfter !== undefined ? Duration.toMillis(error.retryAfter) : undefined
    yield* expectEqual(retryAfter, 7_000, "retryAfter (ms)")
    yield* expectEqual(log.count(createRoute), 1, "creates sent")
    faults.clear()
  })

/**
 * With a concurrency quota of one sandbox held (`holdQuota` sets it), a second create fails with `QuotaExceeded` and
 * is not retried, though the policy allows retries: two creates on the wire in all. Returns the error, for a cloud's
 * own checks of its message.
 */
export const quotaIsNotRetried = (target: FaultTarget, holdQuota: () => unknown) =>
  Effect.gen(function*() {
    const { createRoute, log, provider } = target
    holdQuota()
    return yield* Effect.scoped(Effect.gen(function*() {
      yield* provider.create()
      const exit = yield* Effect.exit(Effect.scoped(provider.create()).pipe(Effect.provideService(RetryPolicy, policy(3, target.readinessTries))))
      const error = failureOf(exit)
      yield* expectEqual(error._tag, "QuotaExceeded", `error (${error.message})`)
      yield* expectEqual(log.count(createRoute), 2, "creates sent")
      return error
    }))
  })

/** Every way a failure is likely to be shown: message, `String`, JSON (the error and its cause), `Cause.pretty`. */
export const renderingsOf = (exit: Exit.Exit<unknown, SandboxError>): ReadonlyArray<string> => {
  if (Exit.isSuccess(exit)) return []
  const error = failureOf(exit)
  return [error.message, String(error), JSON.stringify(error), JSON.stringify(error.cause), Cause.pretty(exit.cause)]
}

/** Fail the scenario if any of `secrets` appears in any rendering of `exit`'s failure. */
export const expectNoSecrets = (exit: Exit.Exit<unknown, SandboxError>, secrets: ReadonlyArray<string>): Effect.Effect<void> => {
  const found = renderingsOf(exit).flatMap((text) => secrets.filter((secret) => text.includes(secret)))
  return found.length === 0 ? Effect.void : Effect.die(new Error(`a secret appears in the error (${found.length} times)`))
}

/**
 * `call` made with credentials the emulator refuses fails with `AuthenticationFailed` (retries allowed by the policy,
 * none taken: the caller checks the request count, which differs by cloud), and none of `secrets` shows in the error.
 */
export const wrongCredentialsAreRefused = <A>(
  call: Effect.Effect<A, SandboxError>,
  secrets: ReadonlyArray<string>,
  readinessTries?: number
) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(call.pipe(Effect.provideService(RetryPolicy, policy(5, readinessTries))))
    yield* expectEqual(failureOf(exit)._tag, "AuthenticationFailed", "error")
    yield* expectNoSecrets(exit, secrets)
  })
