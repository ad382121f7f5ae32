/**
 * Several providers behind one `SandboxProvider`: `fallback`, `roundRobin` (optionally weighted) and `route`, each
 * with a circuit breaker per member. Only *creating* moves between providers; a sandbox stays with the provider that
 * made it, and its handle keeps that provider's name and capabilities. `connect`, `list`, `destroy` and `reap` span
 * every member. No provider package is imported here: members are plain layers.
 */
import { Clock, Context, Duration, Effect, Layer, type Scope } from "effect"
import { hasCapability, type Capabilities, type OptionalCapability } from "./Capabilities.ts"
import type { Sandbox, SandboxInfo } from "./Sandbox.ts"
import { SandboxNotFound, Unsupported, type SandboxError } from "./SandboxError.ts"
import { SandboxProvider, type ReapReport, type SandboxProviderShape } from "./SandboxProvider.ts"
import type { SandboxSpecInput } from "./SandboxSpec.ts"

/** Errors at create time that mean "try another provider": the provider is busy, out of quota, or down. */
const shouldFallBack = (error: SandboxError): boolean =>
  error._tag === "RateLimited" || error._tag === "QuotaExceeded" || error._tag === "ProviderUnavailable" ||
  error._tag === "StartupTimeout"

export interface BreakerOptions {
  /** Consecutive fall-back-worthy failures that open the breaker. Default 3. */
  readonly failureThreshold?: number
  /** How long an open breaker waits before letting one trial through (half-open). Default 30 s. */
  readonly resetAfter?: Duration.Input
}

export type BreakerState = "closed" | "open" | "half-open"

/** A circuit breaker for one member. Time comes from Effect's `Clock`, so `TestClock` drives it in tests. */
export interface Breaker {
  readonly state: Effect.Effect<BreakerState>
  /**
   * May a create go to this member now? Moves open → half-open when the reset delay has passed; half-open admits one
   * trial at a time, so a burst of creates does not all land on a member that may still be failing.
   */
  readonly allow: Effect.Effect<boolean>
  readonly success: Effect.Effect<void>
  readonly failure: Effect.Effect<void>
  /** An admitted create ended without a verdict on the member (an error no other member could fix, an interruption). */
  readonly release: Effect.Effect<void>
}

export const makeBreaker = (options: BreakerOptions = {}): Breaker => {
  const threshold = options.failureThreshold ?? 3
  const resetAfterMs = Duration.toMillis(Duration.fromInputUnsafe(options.resetAfter ?? Duration.seconds(30)))
  let state: BreakerState = "closed"
  let failures = 0
  let openedAt = 0
  let trialInFlight = false
  return {
    state: Effect.sync(() => state),
    allow: Effect.map(Clock.currentTimeMillis, (now) => {
      if (state === "open" && now - openedAt >= resetAfterMs) state = "half-open"
      if (state === "open") return false
      if (state === "half-open") {
        if (trialInFlight) return false
        trialInFlight = true
      }
      return true
    }),
    success: Effect.sync(() => {
      state = "closed"
      failures = 0
      trialInFlight = false
    }),
    release: Effect.sync(() => {
      trialInFlight = false
    }),
    failure: Effect.map(Clock.currentTimeMillis, (now) => {
      trialInFlight = false
      failures++
      if (state === "half-open" || failures >= threshold) {
        state = "open"
        openedAt = now
      }
    })
  }
}

export interface Member {
  readonly provider: SandboxProviderShape
  readonly breaker: Breaker
  readonly weight: number
}

/** Put the members in the order to try for one create; members that cannot serve the spec are left out. */
export type Strategy = (members: ReadonlyArray<Member>, spec: SandboxSpecInput | undefined) => ReadonlyArray<Member>

export interface ComposeOptions {
  /** Circuit breaker settings per member; `false` turns breakers off. */
  readonly breaker?: BreakerOptions | false
  /** A name for the composed provider (default `fallback(a,b)` etc.). */
  readonly name?: string
}

const satisfies = (member: Member, spec: SandboxSpecInput | undefined) =>
  (spec?.requires ?? []).every((capability) => hasCapability(member.provider.capabilities, capability as OptionalCapability)) &&
  // A snapshot can only be restored by the provider that took it.
  (spec?.from === undefined || spec.from.provider === member.provider.name)

const unionCapabilities = (members: ReadonlyArray<Member>): Capabilities => {
  const first = members[0]!.provider.capabilities
  const any = (name: OptionalCapability) => members.some((m) => hasCapability(m.provider.capabilities, name))
  return {
    execStream: any("execStream"),
    spawn: any("spawn"),
    stdin: any("stdin"),
    output: members.every((m) => m.provider.capabilities.output === "separate") ? "separate" : "merged",
    files: any("files"),
    bulkTransfer: any("bulkTransfer"),
    exposePort: any("exposePort"),
    runCode: [...new Set(members.flatMap((m) => m.provider.capabilities.runCode))],
    setTimeout: any("setTimeout"),
    pause: any("pause"),
    snapshot: any("snapshot"),
    template: any("template"),
    isolation: first.isolation
  }
}

/** The composed service over already-built members. */
export const makeComposite = (name: string, members: ReadonlyArray<Member>, strategy: Strategy): SandboxProviderShape => {
  if (members.length === 0) throw new Error("a composed provider needs at least one member")

  /** Try `attempt` on each candidate in turn, falling back only on errors that say "another provider may do". */
  const firstThatCreates = <R>(
    spec: SandboxSpecInput | undefined,
    attempt: (member: Member) => Effect.Effect<Sandbox, SandboxError, R>
  ): Effect.Effect<Sandbox, SandboxError, R> =>
    Effect.gen(function*() {
      const candidates = strategy(members, spec)
      let lastError: SandboxError | undefined
      for (const member of candidates) {
        if (!(yield* member.breaker.allow)) continue
        const result = yield* Effect.result(attempt(member)).pipe(Effect.onInterrupt(() => member.breaker.release))
        if (result._tag === "Success") {
          yield* member.breaker.success
          return result.success
        }
        const error = result.failure
        if (!shouldFallBack(error)) {
          yield* member.breaker.release
          return yield* Effect.fail(error)
        }
        yield* member.breaker.failure
        lastError = error
      }
      if (lastError !== undefined) return yield* Effect.fail(lastError)
      // Nothing was tried: every breaker is open, or no member can serve the spec. Let the first member say why.
      const fallbackMember = members.find((m) => satisfies(m, spec)) ?? members[0]!
      return yield* attempt(fallbackMember)
    })

  const connect = (id: string): Effect.Effect<Sandbox, SandboxError> =>
    Effect.gen(function*() {
      let notFound: SandboxError | undefined
      for (const member of members) {
        const result = yield* Effect.result(member.provider.connect(id))
        if (result._tag === "Success") return result.success
        // An id that is not even valid for one provider (InvalidRequest) may be fine for another.
        if (result.failure._tag !== "SandboxNotFound" && result.failure._tag !== "InvalidRequest") {
          return yield* Effect.fail(result.failure)
        }
        notFound = result.failure
      }
      return yield* Effect.fail(
        notFound?._tag === "SandboxNotFound"
          ? notFound
          : new SandboxNotFound({ provider: name, sandboxId: id, message: `no member of ${name} has sandbox ${id}` })
      )
    })

  const list: SandboxProviderShape["list"] = (filter) =>
    Effect.map(Effect.forEach(members, (m) => m.provider.list(filter), { concurrency: "unbounded" }), (lists) =>
      lists.flat() as ReadonlyArray<SandboxInfo>)

  const findOrCreate: SandboxProviderShape["findOrCreate"] = (options) =>
    Effect.gen(function*() {
      for (const member of members) {
        const found = yield* member.provider.list(options.labels === undefined ? {} : { labels: options.labels })
        const match = found.find((info) =>
          (options.name === undefined || info.name === options.name) && info.state !== "stopped" && info.state !== "unknown"
        )
        // Attach through the member's own findOrCreate so resume and "do not destroy what we attached" hold.
        if (match !== undefined) return yield* member.provider.findOrCreate(options)
      }
      return yield* firstThatCreates(options.spec, (member) => member.provider.findOrCreate(options))
    })

  return {
    name,
    capabilities: unionCapabilities(members),
    create: (spec) => firstThatCreates(spec, (member) => member.provider.create(spec)) as Effect.Effect<Sandbox, SandboxError, Scope.Scope>,
    createDetached: (spec) => firstThatCreates(spec, (member) => member.provider.createDetached(spec)),
    connect,
    findOrCreate,
    list,
    // Destroy is idempotent on every member: ask them all, so the id is gone wherever it lived.
    destroy: (id) => Effect.forEach(members, (m) => m.provider.destroy(id), { discard: true }),
    reap: (options) =>
      Effect.map(Effect.forEach(members, (m) => m.provider.reap(options)), (reports): ReapReport => ({
        destroyed: reports.flatMap((r) => r.destroyed),
        failed: reports.flatMap((r) => r.failed),
        dryRun: reports.some((r) => r.dryRun)
      })),
    listSnapshots: () =>
      Effect.map(
        Effect.forEach(members.filter((m) => hasCapability(m.provider.capabilities, "snapshot")), (m) => m.provider.listSnapshots()),
        (lists) => lists.flat()
      ),
    deleteSnapshot: (snapshot) => {
      const owners = members.filter((m) =>
        hasCapability(m.provider.capabilities, "snapshot") && (typeof snapshot === "string" || snapshot.provider === m.provider.name)
      )
      return owners.length === 0
        ? Effect.fail(new Unsupported({ provider: name, capability: "snapshot", message: `no member of ${name} keeps snapshots` }))
        : Effect.forEach(owners, (m) => m.provider.deleteSnapshot(snapshot), { discard: true })
    }
  }
}

type AnyProviderLayer<E, R> = Layer.Layer<SandboxProvider, E, R>

const buildMembers = <E, R>(
  layers: ReadonlyArray<AnyProviderLayer<E, R>>,
  weights: ReadonlyArray<number>,
  options: ComposeOptions
) =>
  Effect.forEach(layers, (layer, i) =>
    Effect.map(Layer.build(layer), (context): Member => ({
      provider: Context.get(context, SandboxProvider),
      breaker: options.breaker === false ? alwaysClosed : makeBreaker(options.breaker),
      weight: weights[i] ?? 1
    })))

const alwaysClosed: Breaker = {
  state: Effect.succeed("closed"),
  allow: Effect.succeed(true),
  success: Effect.void,
  failure: Effect.void,
  release: Effect.void
}

const composed = <E, R>(
  kind: string,
  layers: ReadonlyArray<AnyProviderLayer<E, R>>,
  weights: ReadonlyArray<number>,
  options: ComposeOptions,
  strategy: Strategy
): Layer.Layer<SandboxProvider, E, Exclude<R, Scope.Scope>> =>
  Layer.effect(
    SandboxProvider,
    Effect.map(buildMembers(layers, weights, options), (members) =>
      makeComposite(options.name ?? `${kind}(${members.map((m) => m.provider.name).join(",")})`, members, strategy))
  ) as Layer.Layer<SandboxProvider, E, Exclude<R, Scope.Scope>>

const capable: Strategy = (members, spec) => members.filter((m) => satisfies(m, spec))

/**
 * Create on the first member; on `RateLimited`, `QuotaExceeded`, `ProviderUnavailable` or `StartupTimeout` (after that
 * member's own retries), try the next. A member whose breaker is open is skipped until it half-opens.
 */
export const fallback = <E, R>(
  layers: ReadonlyArray<AnyProviderLayer<E, R>>,
  options: ComposeOptions = {}
) => composed("fallback", layers, [], options, capable)

/**
 * Spread creates across members in turn; `weights` (same order as `layers`, whole numbers) give a member that many
 * turns per round. A create that fails over falls back to the others, as with `fallback`.
 */
export const roundRobin = <E, R>(
  layers: ReadonlyArray<AnyProviderLayer<E, R>>,
  options: ComposeOptions & { readonly weights?: ReadonlyArray<number> } = {}
) => {
  let turn = 0
  const strategy: Strategy = (members, spec) => {
    const slots = members.flatMap((m) => Array.from({ length: Math.max(0, Math.round(m.weight)) }, () => m))
    if (slots.length === 0) return capable(members, spec)
    const start = slots[turn++ % slots.length]!
    const rest = members.filter((m) => m !== start)
    return capable([start, ...rest], spec)
  }
  return composed("roundRobin", layers, options.weights ?? [], options, strategy)
}

/**
 * Choose the member by spec: `select` returns the index (into `layers`) of the preferred member, or undefined for
 * "first capable". Members that cannot serve the spec's `requires` are never chosen; the rest follow as fallbacks.
 */
export const route = <E, R>(
  layers: ReadonlyArray<AnyProviderLayer<E, R>>,
  select: (spec: SandboxSpecInput | undefined) => number | undefined,
  options: ComposeOptions = {}
) => {
  const strategy: Strategy = (members, spec) => {
    const preferred = select(spec)
    const first = preferred === undefined ? undefined : members[preferred]
    return capable(first === undefined ? members : [first, ...members.filter((m) => m !== first)], spec)
  }
  return composed("route", layers, [], options, strategy)
}
