/**
 * Fault knobs, set per test and consulted by a transport before it dispatches a request. They know routes by name
 * only (`"create"`, `"process.Start"`, …), never by wire details, so an HTTP, Connect or gRPC emulator can share them.
 *
 * Request-level knobs live here (latency, failing or resetting the next N calls of a route). Sandbox-level knobs
 * (a concurrency quota, silent deletion after T, slow readiness) live on the `Registry`, which owns the sandboxes.
 */

/** Added latency, in milliseconds: a fixed value, a distribution, or a function drawing one. */
export type Latency =
  | number
  | { readonly fixed: number }
  | { readonly uniform: readonly [min: number, max: number] }
  | { readonly normal: { readonly mean: number; readonly stddev: number } }
  | { readonly exponential: { readonly mean: number } }
  | (() => number)

/** How a refused call is answered. */
export interface FailureSpec {
  /** HTTP status (a gRPC transport maps it to a status code). */
  readonly status: number
  /** `Retry-After` header: whole seconds, or a raw header value such as an HTTP date. */
  readonly retryAfter?: number | string | undefined
  /** The error message in the body. */
  readonly message?: string | undefined
  /** Extra response headers. */
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** What the transport must do with one request. */
export type FaultDecision =
  | { readonly _tag: "Pass" }
  | { readonly _tag: "Fail"; readonly failure: FailureSpec }
  /** Destroy the connection without an answer. */
  | { readonly _tag: "Reset" }
  /** Answer normally, then destroy the connection after the response has started (streams: mid-stream). */
  | { readonly _tag: "ResetAfterStart"; readonly afterMs: number }

interface Pending {
  remaining: number
  readonly decision: Exclude<FaultDecision, { _tag: "Pass" }>
}

/** Every route matches `"*"`. */
export const ANY_ROUTE = "*"

/** A random number generator in [0, 1); inject a seeded one for reproducible latency draws. */
export type Random = () => number

/**
 * A seeded `Random` (mulberry32: 32-bit state, period 2^32): reproducible fault plans, latency draws and orders from
 * one printed seed. Not for anything secret.
 */
export const seededRandom = (seed: number): Random => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const gaussian = (random: Random): number => {
  // Box-Muller; 1 - u keeps log away from 0.
  const u = 1 - random()
  const v = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** One latency draw in milliseconds (never negative). */
export const drawLatency = (latency: Latency, random: Random = Math.random): number => {
  let ms: number
  if (typeof latency === "number") ms = latency
  else if (typeof latency === "function") ms = latency()
  else if ("fixed" in latency) ms = latency.fixed
  else if ("uniform" in latency) ms = latency.uniform[0] + random() * (latency.uniform[1] - latency.uniform[0])
  else if ("normal" in latency) ms = latency.normal.mean + gaussian(random) * latency.normal.stddev
  else ms = -Math.log(1 - random()) * latency.exponential.mean
  return Number.isFinite(ms) && ms > 0 ? ms : 0
}

export class Faults {
  private readonly latencies = new Map<string, Latency>()
  private readonly pending = new Map<string, Array<Pending>>()
  private readonly random: Random

  constructor(random: Random = Math.random) {
    this.random = random
  }

  /** Add latency to every call of `route` (or `"*"` for all routes; a route's own setting wins). `undefined` clears. */
  latency(route: string, latency: Latency | undefined): this {
    if (latency === undefined) this.latencies.delete(route)
    else this.latencies.set(route, latency)
    return this
  }

  /** The next `times` calls of `route` are answered with `failure` (queued behind earlier knobs on the route). */
  failNext(route: string, failure: FailureSpec & { readonly times?: number }): this {
    const { times = 1, ...spec } = failure
    return this.enqueue(route, times, { _tag: "Fail", failure: spec })
  }

  /** The next `times` calls of `route` get `429 Too Many Requests`, with `Retry-After: retryAfter` when given. */
  rateLimitNext(route: string, options: { readonly times?: number; readonly retryAfter?: number | string; readonly message?: string } = {}): this {
    return this.failNext(route, {
      status: 429,
      times: options.times ?? 1,
      retryAfter: options.retryAfter,
      message: options.message ?? "Rate limit exceeded, please try again later"
    })
  }

  /**
   * The next `times` calls of `route` lose their connection: before any answer (default), or `afterMs` after the
   * response started (`midStream: true`), which cuts a streaming reply in the middle.
   */
  resetNext(route: string, options: { readonly times?: number; readonly midStream?: boolean; readonly afterMs?: number } = {}): this {
    return this.enqueue(
      route,
      options.times ?? 1,
      options.midStream === true ? { _tag: "ResetAfterStart", afterMs: options.afterMs ?? 0 } : { _tag: "Reset" }
    )
  }

  /** Forget every request-level knob. */
  clear(): this {
    this.latencies.clear()
    this.pending.clear()
    return this
  }

  /** The latency to add before answering a call of `route`, in milliseconds. */
  delayFor(route: string): number {
    const latency = this.latencies.get(route) ?? this.latencies.get(ANY_ROUTE)
    return latency === undefined ? 0 : drawLatency(latency, this.random)
  }

  /** Consume the next knob queued for `route` (its own queue first, then `"*"`). */
  decide(route: string): FaultDecision {
    return this.take(route) ?? this.take(ANY_ROUTE) ?? { _tag: "Pass" }
  }

  /** How many queued failures are still waiting on `route`. */
  remaining(route: string): number {
    return (this.pending.get(route) ?? []).reduce((n, p) => n + p.remaining, 0)
  }

  private enqueue(route: string, times: number, decision: Pending["decision"]): this {
    if (!Number.isInteger(times) || times < 1) throw new RangeError(`times must be a positive integer, got ${times}`)
    const queue = this.pending.get(route) ?? []
    queue.push({ remaining: times, decision })
    this.pending.set(route, queue)
    return this
  }

  private take(route: string): FaultDecision | undefined {
    const queue = this.pending.get(route)
    const head = queue?.[0]
    if (queue === undefined || head === undefined) return undefined
    head.remaining -= 1
    if (head.remaining <= 0) queue.shift()
    if (queue.length === 0) this.pending.delete(route)
    return head.decision
  }
}
