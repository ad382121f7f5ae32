/**
 * The retry schedules, driven by the TestClock: every attempt's time is recorded and checked to the millisecond.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Option, Random } from "effect"
import { TestClock } from "effect/testing"
import {
  AuthenticationFailed,
  awaitReadiness,
  CommandTimeout,
  FileNotFound,
  InvalidRequest,
  makeReadiness,
  makeTransient,
  PermissionDenied,
  ProviderError,
  ProviderUnavailable,
  QuotaExceeded,
  RateLimited,
  readiness,
  RetryPolicy,
  type RetrySchedule,
  type SandboxError,
  SandboxNotFound,
  StartupTimeout,
  transient,
  transientDefaults,
  Unsupported,
  withTransientRetry
} from "../src/index.ts"

const provider = "test"

const unavailable = (n = 0) => new ProviderUnavailable({ provider, status: 503, message: `503 #${n}` })
const rateLimited = (retryAfter?: Duration.Duration) => new RateLimited({ provider, message: "429", retryAfter })

/** An effect that records the TestClock time of every attempt and fails while `failWith` returns an error. */
const recorder = <E>(failWith: (attempt: number) => E | undefined) => {
  const times: Array<number> = []
  const effect = Effect.gen(function*() {
    times.push(yield* Clock.currentTimeMillis)
    const error = failWith(times.length)
    if (error !== undefined) return yield* Effect.fail(error)
    return times.length
  })
  return { times, effect }
}

/** Fails every time with a fresh `ProviderUnavailable` numbered by attempt. */
const alwaysUnavailable = () => recorder((n) => unavailable(n))

const errorOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  const error = Exit.findErrorOption(exit)
  if (Option.isNone(error)) throw new Error(`expected a typed failure, got ${String(exit)}`)
  return error.value
}

/** The fiber's exit, which must already be there (no pending sleep). */
const doneNow = <A, E>(fiber: Fiber.Fiber<A, E>): Exit.Exit<A, E> => {
  const exit = fiber.pollUnsafe()
  if (exit === undefined) throw new Error("expected the fiber to be done")
  return exit
}

/**
 * Fork `effect` and walk the clock through `expected` (absolute attempt times, the first being 0): 1 ms before each
 * expected time there is no new attempt yet, at it there is. Returns the fiber, done right after the last attempt.
 */
const expectAttemptsAt = <A, E>(
  effect: Effect.Effect<A, E>,
  times: ReadonlyArray<number>,
  expected: ReadonlyArray<number>
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(0)
    assert.deepStrictEqual(times, [0], "first attempt immediately")
    for (let i = 1; i < expected.length; i++) {
      yield* TestClock.setTime(expected[i]! - 1)
      assert.strictEqual(times.length, i, `attempt ${i + 1} must not happen before ${expected[i]} ms`)
      yield* TestClock.setTime(expected[i]!)
      assert.strictEqual(times.length, i + 1, `attempt ${i + 1} must happen at ${expected[i]} ms`)
    }
    assert.deepStrictEqual(times, expected)
    yield* TestClock.adjust(0)
    const exit = doneNow(fiber)
    // Nothing more happens, however long we wait.
    yield* TestClock.adjust("1 hour")
    assert.strictEqual(times.length, expected.length, "no attempt after the schedule ended")
    return exit
  })

/** Run `effect` to completion, advancing the clock as far as needed. */
const runWithClock = <A, E>(effect: Effect.Effect<A, E>, enough: Duration.Input = "10 minutes") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(enough)
    return doneNow(fiber)
  })

/** A `Random` service that always draws `value` (0 = shortest jitter ×0.8, → 1 = longest ×1.2). */
const fixedRandom = (value: number) =>
  Effect.provideService(Random.Random, {
    nextDoubleUnsafe: () => value,
    nextIntUnsafe: () => Math.floor(value * Number.MAX_SAFE_INTEGER)
  })

const cumulative = (delays: ReadonlyArray<number>): Array<number> => {
  const out = [0]
  for (const d of delays) out.push(out[out.length - 1]! + d)
  return out
}

describe("transient schedule", () => {
  it("has the documented defaults", () => {
    assert.strictEqual(Duration.toMillis(transientDefaults.base), 200)
    assert.strictEqual(transientDefaults.factor, 2)
    assert.strictEqual(Duration.toMillis(transientDefaults.maxDelay), 10_000)
    assert.strictEqual(transientDefaults.maxRetries, 5)
    assert.strictEqual(Duration.toMillis(transientDefaults.maxElapsed), 60_000)
    assert.strictEqual(transientDefaults.jitter, true)
  })

  it.effect("without jitter: retries ProviderUnavailable at +200, +400, +800, +1600, +3200 ms, 6 attempts, then the last error", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false })),
        times,
        [0, 200, 600, 1400, 3000, 6200]
      )
      const error = errorOf(exit)
      assert.strictEqual(error._tag, "ProviderUnavailable")
      assert.strictEqual(error.message, "503 #6", "fails with the last attempt's error")
    }))

  it.effect("succeeds as soon as an attempt succeeds", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder((n) => n < 3 ? unavailable(n) : undefined)
      const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0, 200, 600])
      assert.deepStrictEqual(exit, Exit.succeed(3))
    }))

  it.effect("RateLimited without Retry-After follows the computed delays", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder(() => rateLimited())
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false })),
        times,
        [0, 200, 600, 1400, 3000, 6200]
      )
      assert.strictEqual(errorOf(exit)._tag, "RateLimited")
    }))

  it.effect("caps each delay at maxDelay (base 5 s: 5, 10, 10, 10, 10 s)", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, base: "5 seconds" })),
        times,
        cumulative([5_000, 10_000, 10_000, 10_000, 10_000])
      )
      assert.strictEqual(errorOf(exit)._tag, "ProviderUnavailable")
    }))

  it.effect("caps each delay at a custom maxDelay (1, 2, 3, 3, 3 s)", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, base: "1 second", maxDelay: "3 seconds" })),
        times,
        cumulative([1_000, 2_000, 3_000, 3_000, 3_000])
      )
    }))

  it.effect("honours custom base, factor and maxRetries", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, base: "100 millis", factor: 3, maxRetries: 3 })),
        times,
        cumulative([100, 300, 900])
      )
    }))

  it.effect("maxRetries: 0 means a single attempt", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false, maxRetries: 0 })), times, [0])
      assert.strictEqual(errorOf(exit).message, "503 #1")
    }))

  it.effect("maxElapsed stops retrying once the budget has passed", () =>
    Effect.gen(function*() {
      // Attempts at 0, 200, 600, 1400: at 1400 ms more than 1 s has passed since the first failure, so it stops
      // although retries are left.
      const { effect, times } = alwaysUnavailable()
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, maxElapsed: "1 second" })),
        times,
        [0, 200, 600, 1400]
      )
      assert.strictEqual(errorOf(exit).message, "503 #4")
    }))

  it.effect("maxElapsed: a failure exactly at the budget is still retried", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, maxElapsed: "1400 millis" })),
        times,
        [0, 200, 600, 1400, 3000]
      )
    }))

  it.effect("maxElapsed bounds long capped schedules (base 5 s, 20 s budget)", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, base: "5 seconds", maxElapsed: "20 seconds" })),
        times,
        [0, 5_000, 15_000, 25_000]
      )
    }))

  it.effect("Retry-After wins over the computed delay: next attempt exactly at 3 s", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder((n) => n === 1 ? rateLimited(Duration.seconds(3)) : undefined)
      const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0, 3_000])
      assert.deepStrictEqual(exit, Exit.succeed(2))
    }))

  it.effect("Retry-After wins with jitter on too (default transient)", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder((n) => n <= 2 ? rateLimited(Duration.seconds(3)) : undefined)
      const exit = yield* expectAttemptsAt(Effect.retry(effect, transient), times, [0, 3_000, 6_000])
      assert.deepStrictEqual(exit, Exit.succeed(3))
    }))

  it.effect("Retry-After is not capped by maxDelay", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder((n) => n === 1 ? rateLimited(Duration.seconds(30)) : undefined)
      yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0, 30_000])
    }))

  it.effect("Retry-After and computed delays mix attempt by attempt", () =>
    Effect.gen(function*() {
      // 1: 503 → computed 200; 2: 429 Retry-After 1 s; 3: 503 → computed 800 (attempt 3 of the exponential).
      const { effect, times } = recorder((n) =>
        n === 1 ? unavailable(n) : n === 2 ? rateLimited(Duration.seconds(1)) : n === 3 ? unavailable(n) : undefined
      )
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false })),
        times,
        [0, 200, 1_200, 2_000]
      )
      assert.deepStrictEqual(exit, Exit.succeed(4))
    }))

  it.effect("a Retry-After longer than the whole budget is not waited for: fails at once", () =>
    Effect.gen(function*() {
      const error = rateLimited(Duration.seconds(90))
      const { effect, times } = recorder(() => error)
      const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0])
      assert.strictEqual(errorOf(exit), error)
    }))

  it.effect("a Retry-After longer than the remaining budget is not waited for", () =>
    Effect.gen(function*() {
      // Budget 10 s. Wait 3 s (ok), then 8 s would end at 11 s > 10 s: fail at 3 s.
      const { effect, times } = recorder((n) => n === 1 ? rateLimited(Duration.seconds(3)) : rateLimited(Duration.seconds(8)))
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, maxElapsed: "10 seconds" })),
        times,
        [0, 3_000]
      )
      const error = errorOf(exit)
      assert.strictEqual(error._tag, "RateLimited")
      assert.strictEqual(error._tag === "RateLimited" && Duration.toMillis(error.retryAfter!), 8_000)
    }))

  it.effect("a Retry-After that ends exactly at the budget is waited for", () =>
    Effect.gen(function*() {
      const { effect, times } = recorder((n) =>
        n === 1 ? rateLimited(Duration.seconds(3)) : n === 2 ? rateLimited(Duration.seconds(7)) : undefined
      )
      const exit = yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false, maxElapsed: "10 seconds" })),
        times,
        [0, 3_000, 10_000]
      )
      assert.deepStrictEqual(exit, Exit.succeed(3))
    }))

  const permanent: ReadonlyArray<SandboxError> = [
    new InvalidRequest({ provider, message: "bad", field: "spec" }),
    new AuthenticationFailed({ provider, message: "401" }),
    new PermissionDenied({ provider, message: "403" }),
    new SandboxNotFound({ provider, sandboxId: "sb", message: "404" }),
    new QuotaExceeded({ provider, message: "quota" }),
    // Everything else that is not RateLimited / ProviderUnavailable is permanent too.
    new StartupTimeout({ provider, sandboxId: "sb", message: "slow" }),
    new CommandTimeout({ provider, sandboxId: "sb", message: "slow", timeoutMs: 5 }),
    new FileNotFound({ provider, sandboxId: "sb", message: "nope", path: "/x" }),
    new Unsupported({ provider, message: "no", capability: "pause" }),
    new ProviderError({ provider, message: "teapot", status: 418 })
  ]

  for (const error of permanent) {
    it.effect(`never retries ${error._tag} (exactly 1 attempt, same error) with the schedule alone`, () =>
      Effect.gen(function*() {
        const { effect, times } = recorder(() => error)
        const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0])
        assert.strictEqual(errorOf(exit), error)
      }))

    it.effect(`never retries ${error._tag} through withTransientRetry (idempotent or not)`, () =>
      Effect.gen(function*() {
        for (const idempotent of [true, false]) {
          const { effect, times } = recorder(() => error)
          const exit = yield* Effect.exit(withTransientRetry(effect, { idempotent }))
          assert.strictEqual(times.length, 1)
          assert.strictEqual(errorOf(exit), error)
        }
        const { effect, times } = recorder(() => error)
        yield* Effect.exit(withTransientRetry(effect))
        assert.strictEqual(times.length, 1)
      }))
  }

  it.effect("a permanent error after transient ones stops the retries at once", () =>
    Effect.gen(function*() {
      const notFound = new SandboxNotFound({ provider, message: "gone" })
      const { effect, times } = recorder((n) => n < 3 ? unavailable(n) : notFound)
      const exit = yield* expectAttemptsAt(Effect.retry(effect, makeTransient({ jitter: false })), times, [0, 200, 600])
      assert.strictEqual(errorOf(exit), notFound)
    }))
})

describe("withTransientRetry", () => {
  it.effect("idempotent (default): retries ProviderUnavailable and RateLimited, 6 attempts", () =>
    Effect.gen(function*() {
      const makers: ReadonlyArray<() => SandboxError> = [() => unavailable(), () => rateLimited()]
      for (const make of makers) {
        const { effect, times } = recorder(make)
        const exit = yield* runWithClock(withTransientRetry(effect))
        assert.strictEqual(times.length, 6)
        assert.isTrue(Exit.isFailure(exit))
      }
    }))

  it.effect("idempotent: false retries RateLimited but not ProviderUnavailable", () =>
    Effect.gen(function*() {
      const limited = recorder((n) => n < 4 ? rateLimited(Duration.seconds(1)) : undefined)
      const ok = yield* runWithClock(withTransientRetry(limited.effect, { idempotent: false }))
      assert.deepStrictEqual(ok, Exit.succeed(4))
      assert.deepStrictEqual(limited.times, [0, 1_000, 2_000, 3_000])

      const down = recorder(() => unavailable())
      const exit = yield* runWithClock(withTransientRetry(down.effect, { idempotent: false }))
      assert.strictEqual(down.times.length, 1)
      assert.strictEqual(errorOf(exit)._tag, "ProviderUnavailable")
    }))

  it.effect("RetryPolicy override per call changes the attempt count", () =>
    Effect.gen(function*() {
      const policy = { transient: makeTransient({ jitter: false, maxRetries: 2 }), readiness }
      const { effect, times } = alwaysUnavailable()
      const exit = yield* expectAttemptsAt(
        withTransientRetry(effect).pipe(Effect.provideService(RetryPolicy, policy)),
        times,
        [0, 200, 600]
      )
      assert.strictEqual(errorOf(exit).message, "503 #3")

      // No retries at all.
      const none = alwaysUnavailable()
      yield* Effect.exit(
        withTransientRetry(none.effect).pipe(
          Effect.provideService(RetryPolicy, { transient: makeTransient({ maxRetries: 0 }), readiness })
        )
      )
      assert.strictEqual(none.times.length, 1)

      // The default is back outside the override.
      const after = alwaysUnavailable()
      yield* runWithClock(withTransientRetry(after.effect))
      assert.strictEqual(after.times.length, 6)
    }))

  it.effect("RetryPolicy override applies to the schedule's timing too", () =>
    Effect.gen(function*() {
      const policy = { transient: makeTransient({ jitter: false, base: "1 second", factor: 1 }), readiness }
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        withTransientRetry(effect).pipe(Effect.provideService(RetryPolicy, policy)),
        times,
        [0, 1_000, 2_000, 3_000, 4_000, 5_000]
      )
    }))
})

describe("jitter", () => {
  const nominal = [200, 400, 800, 1600, 3200]

  /**
   * Drive the default (jittered) `transient`: for each retry, just below 0.8 × nominal there is no new attempt; at
   * 1.2 × nominal there is. Returns the observed delays.
   */
  const observeJitteredDelays = (schedule: RetrySchedule) =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      const fiber = yield* Effect.forkChild(Effect.retry(effect, schedule))
      yield* TestClock.adjust(0)
      assert.strictEqual(times.length, 1)
      for (let i = 0; i < nominal.length; i++) {
        const last = times[i]!
        const now = yield* Clock.currentTimeMillis
        const lower = last + 0.8 * nominal[i]! - 1
        const upper = last + 1.2 * nominal[i]!
        yield* TestClock.adjust(lower - now)
        assert.strictEqual(times.length, i + 1, `retry ${i + 1} came before 0.8 × ${nominal[i]} ms`)
        yield* TestClock.adjust(upper - lower)
        assert.strictEqual(times.length, i + 2, `retry ${i + 1} did not come by 1.2 × ${nominal[i]} ms`)
      }
      yield* TestClock.adjust(0)
      assert.isTrue(Exit.isFailure(doneNow(fiber)))
      const delays = times.slice(1).map((t, i) => t - times[i]!)
      delays.forEach((d, i) => {
        assert.isAtLeast(d, 0.8 * nominal[i]!)
        assert.isAtMost(d, 1.2 * nominal[i]!)
      })
      return delays
    })

  it.effect("every delay of the default transient lies within [0.8, 1.2] × nominal (several seeds)", () =>
    Effect.gen(function*() {
      const seen = new Set<string>()
      for (const seed of ["a", "b", "c", "sandkit", "42"]) {
        const delays = yield* observeJitteredDelays(transient).pipe(Random.withSeed(seed))
        seen.add(delays.join(","))
      }
      // Jitter really varies the delays (not all nominal, not all the same).
      assert.isAbove(seen.size, 1)
      assert.isFalse(seen.has(nominal.join(",")))
    }))

  it.effect("a seeded Random makes the jittered delays deterministic", () =>
    Effect.gen(function*() {
      const first = yield* observeJitteredDelays(transient).pipe(Random.withSeed("same"))
      const second = yield* observeJitteredDelays(transient).pipe(Random.withSeed("same"))
      // Same draws; the clock started at another time, so compare to the microsecond.
      assert.deepStrictEqual(first.map((d) => d.toFixed(3)), second.map((d) => d.toFixed(3)))
    }))

  it.effect("the jitter's extremes: ×0.8 exactly when Random draws 0", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, transient).pipe(fixedRandom(0)),
        times,
        cumulative(nominal.map((d) => d * 0.8))
      )
    }))

  it.effect("the jitter's extremes: ×1.2 when Random draws 1", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, transient).pipe(fixedRandom(1)),
        times,
        cumulative(nominal.map((d) => d * 1.2))
      )
    }))

  it.effect("the cap applies after jitter: no delay exceeds maxDelay", () =>
    Effect.gen(function*() {
      // base 5 s: nominal 5, 10, 20, … → ×1.2 = 6, 12, … → capped 6, 10, 10, 10, 10.
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ base: "5 seconds" })).pipe(fixedRandom(1)),
        times,
        cumulative([6_000, 10_000, 10_000, 10_000, 10_000])
      )
    }))

  it.effect("jitter: false ignores Random", () =>
    Effect.gen(function*() {
      const { effect, times } = alwaysUnavailable()
      yield* expectAttemptsAt(
        Effect.retry(effect, makeTransient({ jitter: false })).pipe(fixedRandom(1)),
        times,
        cumulative(nominal)
      )
    }))
})

describe("readiness", () => {
  const context = { provider, sandboxId: "sb-1" }

  /** A poll that answers true from try `readyOn` on (never when undefined), recording poll times. */
  const readyPoll = (readyOn: number | undefined) => {
    const times: Array<number> = []
    const effect = Effect.gen(function*() {
      times.push(yield* Clock.currentTimeMillis)
      return readyOn !== undefined && times.length >= readyOn
    })
    return { times, effect }
  }

  it.effect("polls at 0, 1, 2, … s: 120 tries, then StartupTimeout at 119 s", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(undefined)
      const exit = yield* expectAttemptsAt(
        awaitReadiness(effect, context),
        times,
        Array.from({ length: 120 }, (_, i) => i * 1_000)
      )
      const error = errorOf(exit)
      assert.instanceOf(error, StartupTimeout)
      assert.strictEqual(error.provider, provider)
      assert.strictEqual(error.sandboxId, "sb-1")
    }))

  it.effect("ready on try 5: success after exactly 4 s", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(5)
      const fiber = yield* Effect.forkChild(awaitReadiness(effect, context))
      yield* TestClock.adjust("3999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      assert.strictEqual(times.length, 4)
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(doneNow(fiber), Exit.void)
      assert.deepStrictEqual(times, [0, 1_000, 2_000, 3_000, 4_000])
    }))

  it.effect("ready at once: one poll, no waiting", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(1)
      const exit = yield* Effect.exit(awaitReadiness(effect, context))
      assert.deepStrictEqual(exit, Exit.void)
      assert.deepStrictEqual(times, [0])
    }))

  it.effect("ready on the 120th try still succeeds", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(120)
      const exit = yield* runWithClock(awaitReadiness(effect, context))
      assert.deepStrictEqual(exit, Exit.void)
      assert.strictEqual(times.length, 120)
      assert.strictEqual(times[119], 119_000)
    }))

  it.effect("an error from the poll passes through unchanged, and polling stops", () =>
    Effect.gen(function*() {
      const gone = new SandboxNotFound({ provider, sandboxId: "sb-1", message: "deleted while starting" })
      const times: Array<number> = []
      const effect = Effect.gen(function*() {
        times.push(yield* Clock.currentTimeMillis)
        if (times.length === 3) return yield* Effect.fail(gone)
        return false
      })
      const exit = yield* runWithClock(awaitReadiness(effect, context))
      assert.strictEqual(errorOf(exit), gone)
      assert.deepStrictEqual(times, [0, 1_000, 2_000])
    }))

  it.effect("makeReadiness: custom spacing and tries", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(undefined)
      const exit = yield* expectAttemptsAt(
        awaitReadiness(effect, context).pipe(
          Effect.provideService(RetryPolicy, { transient, readiness: makeReadiness({ spacing: "250 millis", tries: 4 }) })
        ),
        times,
        [0, 250, 500, 750]
      )
      assert.strictEqual(errorOf(exit)._tag, "StartupTimeout")
    }))

  it.effect("makeReadiness: tries: 1 polls once", () =>
    Effect.gen(function*() {
      const { effect, times } = readyPoll(undefined)
      const exit = yield* runWithClock(
        awaitReadiness(effect, context).pipe(
          Effect.provideService(RetryPolicy, { transient, readiness: makeReadiness({ tries: 1 }) })
        )
      )
      assert.strictEqual(errorOf(exit)._tag, "StartupTimeout")
      assert.deepStrictEqual(times, [0])
    }))
})
