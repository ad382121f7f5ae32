/**
 * Retry policy as data. `transient` retries only `RateLimited` and `ProviderUnavailable`, exponentially with jitter,
 * each delay capped, bounded in attempts and in total time; a server's `Retry-After` wins over the computed delay.
 * `readiness` spaces "is it up yet?" polls 1 s apart, 120 tries (OpenHands' Runloop wait).
 */
import { Context, Duration, Effect, Schedule } from "effect"
import { countRetry, type OperationContext } from "./Observability.ts"
import { isTransient, StartupTimeout, type SandboxError } from "./SandboxError.ts"

export interface TransientOptions {
  /** First delay. Default 200 ms. */
  readonly base?: Duration.Input
  /** Growth per attempt. Default 2. */
  readonly factor?: number
  /** Cap on any single computed delay. Default 10 s. */
  readonly maxDelay?: Duration.Input
  /** Retries after the first attempt. Default 5 (6 attempts in all). */
  readonly maxRetries?: number
  /** Give up once this much time has passed since the first failure. Default 60 s. */
  readonly maxElapsed?: Duration.Input
  /** Randomise each computed delay by ×0.8–1.2 so many clients do not retry in lockstep. Default true. */
  readonly jitter?: boolean
}

export const transientDefaults = {
  base: Duration.millis(200),
  factor: 2,
  maxDelay: Duration.seconds(10),
  maxRetries: 5,
  maxElapsed: Duration.seconds(60),
  jitter: true
} as const

export type RetrySchedule = Schedule.Schedule<unknown, SandboxError>

/** Build a `transient` schedule with other bounds. */
export const makeTransient = (options: TransientOptions = {}): RetrySchedule => {
  const maxDelay = Duration.fromInputUnsafe(options.maxDelay ?? transientDefaults.maxDelay)
  const maxElapsed = Duration.fromInputUnsafe(options.maxElapsed ?? transientDefaults.maxElapsed)
  const exponential = Schedule.exponential(options.base ?? transientDefaults.base, options.factor ?? transientDefaults.factor)
  const computed = (options.jitter ?? transientDefaults.jitter) ? Schedule.jittered(exponential) : exponential
  return computed.pipe(
    Schedule.setInputType<SandboxError>(),
    // The server's Retry-After wins; otherwise the computed delay, capped.
    Schedule.modifyDelay(({ duration, input }) =>
      Effect.succeed(
        input._tag === "RateLimited" && input.retryAfter !== undefined ? input.retryAfter : Duration.min(duration, maxDelay)
      )
    ),
    // Only transient errors, and never a Retry-After that would overshoot the total budget.
    Schedule.while(({ input, elapsed }) =>
      isTransient(input) &&
      !(input._tag === "RateLimited" && input.retryAfter !== undefined &&
        Duration.isGreaterThan(Duration.sum(Duration.millis(elapsed), input.retryAfter), maxElapsed))
    ),
    Schedule.upTo({ times: options.maxRetries ?? transientDefaults.maxRetries, duration: maxElapsed })
  )
}

/** Exponential from 200 ms, ×2, jittered, each delay ≤ 10 s, ≤ 5 retries, ≤ 60 s in all. */
export const transient: RetrySchedule = makeTransient()

export interface ReadinessOptions {
  readonly spacing?: Duration.Input
  /** Total polls, the first included. Default 120. */
  readonly tries?: number
}

/** Fixed spacing; `tries` polls in all (the first one immediate). */
export const makeReadiness = (options: ReadinessOptions = {}): Schedule.Schedule<unknown, unknown> =>
  Schedule.spaced(options.spacing ?? Duration.seconds(1)).pipe(Schedule.upTo({ times: (options.tries ?? 120) - 1 }))

/** 1 s apart, 120 tries. */
export const readiness = makeReadiness()

/**
 * The schedules in force. Override for a whole layer or a single call:
 * `effect.pipe(Effect.provideService(RetryPolicy, { ...policy, transient: makeTransient({ maxRetries: 1 }) }))`.
 */
export const RetryPolicy = Context.Reference<RetryPolicy>("@sandkit/core/RetryPolicy", {
  defaultValue: () => ({ transient, readiness })
})
export interface RetryPolicy {
  readonly transient: RetrySchedule
  readonly readiness: Schedule.Schedule<unknown, unknown>
}

/**
 * Retry `effect` under the current `transient` schedule. With `idempotent: false` (e.g. running a command, where a
 * reset connection may have started it) only `RateLimited` is retried: the server refused before doing anything.
 */
export const withTransientRetry = <A, E extends SandboxError, R>(
  effect: Effect.Effect<A, E, R>,
  options: { readonly idempotent?: boolean; readonly context?: OperationContext } = {}
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy
    const idempotent = options.idempotent ?? true
    let attempts = 0
    const attempt = Effect.suspend(() => {
      attempts++
      return attempts > 1 && options.context !== undefined ? Effect.andThen(countRetry(options.context), effect) : effect
    })
    return yield* Effect.retry(attempt, {
      schedule: policy.transient,
      while: (error: E) => idempotent ? isTransient(error) : error._tag === "RateLimited"
    })
  })

/**
 * Poll `isReady` under the `readiness` schedule until it answers true; past the last try, `StartupTimeout`.
 * Errors from `isReady` itself pass through (a `SandboxNotFound` while starting is not a reason to keep waiting).
 */
export const awaitReadiness = <E, R>(
  isReady: Effect.Effect<boolean, E, R>,
  context: { readonly provider: string; readonly sandboxId: string }
): Effect.Effect<void, E | StartupTimeout, R> =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy
    const ready = yield* isReady.pipe(Effect.repeat({ schedule: policy.readiness, until: (ok) => ok }))
    if (!ready) {
      return yield* new StartupTimeout({
        ...context,
        message: `sandbox ${context.sandboxId} did not become ready within the readiness schedule`
      })
    }
  })
