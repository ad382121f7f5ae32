/**
 * The in-memory registry of emulated sandboxes. Each one is backed by a real `@sandkit/local` sandbox (its own
 * workspace, commands run in the local isolation tier), created with it and destroyed with it, and destroyed when the
 * emulator's scope closes. Provider emulators keep their own per-sandbox state in `ext` (E2B: processes, code
 * contexts) and clean it up in the `onRemove` hook.
 *
 * The sandbox-level fault knobs live here: a concurrency quota, silent deletion after a delay, slow readiness.
 */
import type { DriverSandbox, ProviderError, SandboxDriver, Unsupported } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Effect, type Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { FailureSpec } from "./Faults.ts"

export type SandboxStatus = "running" | "paused"

/** Why a sandbox left the registry. `deleted` and `expired` happen behind the client's back. */
export type RemovalReason = "destroyed" | "expired" | "deleted" | "closed"

export interface EmulatedSandbox<Ext> {
  readonly id: string
  readonly template: string
  readonly metadata: Readonly<Record<string, string>>
  readonly env: Readonly<Record<string, string>>
  readonly createdAt: Date
  /** When the sandbox ends on its own (its provider-side timeout), if it has one. */
  endAt: Date | undefined
  state: SandboxStatus
  /** Epoch milliseconds from which the data plane answers (slow readiness). */
  readyAt: number
  /** The sandbox's home: the local workspace directory (the same path inside and outside the sandbox). */
  readonly home: string
  /** The local sandbox its commands and files go through. */
  readonly engine: DriverSandbox
  readonly ext: Ext
}

export interface CreateInput<Ext> {
  readonly template: string
  readonly metadata?: Readonly<Record<string, string>>
  readonly env?: Readonly<Record<string, string>>
  /** Outbound network for the sandbox's commands (needed to reach its ports from the host). Default true. */
  readonly network?: boolean
  /** Provider-side lifetime; past it the sandbox is removed (`expired`). Undefined: no limit. */
  readonly timeoutMs?: number | undefined
  readonly ext: (sandbox: Omit<EmulatedSandbox<Ext>, "ext">) => Ext
}

/** Thrown by `create` when the concurrency quota is reached; `failure` is how to answer. */
export class QuotaReached extends Error {
  readonly failure: FailureSpec
  constructor(failure: FailureSpec) {
    super(failure.message ?? "quota reached")
    this.failure = failure
  }
}

export interface RegistryOptions {
  /** Options for the local engine. `root` defaults to a fresh temporary directory removed at close. */
  readonly local?: LocalProvider.LocalOptions
  /** Sandbox ids are `prefix` + 20 random lower-case alphanumerics. Default "". */
  readonly idPrefix?: string
}

export interface RegistryHooks<Ext> {
  /** Runs before the local sandbox is destroyed, whatever the reason. */
  readonly onRemove?: (sandbox: EmulatedSandbox<Ext>, reason: RemovalReason) => Promise<void>
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
const randomId = (length: number): string => {
  const bytes = new Uint8Array(length)
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("")
}

/** Timers may not exceed ~24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1

export class Registry<Ext> {
  private readonly sandboxes = new Map<string, EmulatedSandbox<Ext>>()
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly removing = new Map<string, Promise<boolean>>()
  /** Creates in flight: `close` waits for them, so none lands after it. */
  private readonly creating = new Set<Promise<unknown>>()
  private quota: { readonly maxConcurrent: number; readonly failure: FailureSpec } | undefined
  private readinessDelayMs = 0
  private closed = false
  /** The most sandboxes live at once since the start or the last `resetPeak`. */
  private highWater = 0
  /** Creates past the quota check whose sandbox is not in the map yet. */
  private reserved = 0
  /** Removals in the order they happened (reason per id), for tests. */
  readonly removals: Array<{ readonly id: string; readonly reason: RemovalReason }> = []

  /** The local engine the sandboxes run on. */
  readonly engine: SandboxDriver
  private readonly options: RegistryOptions
  private readonly hooks: RegistryHooks<Ext>

  constructor(engine: SandboxDriver, options: RegistryOptions = {}, hooks: RegistryHooks<Ext> = {}) {
    this.engine = engine
    this.options = options
    this.hooks = hooks
  }

  /**
   * A registry backed by a fresh local engine, scoped: when the scope closes every sandbox is destroyed and the
   * temporary root is removed.
   */
  static make<Ext>(
    options: RegistryOptions = {},
    hooks: RegistryHooks<Ext> = {}
  ): Effect.Effect<Registry<Ext>, Unsupported | ProviderError, Scope.Scope> {
    return Effect.gen(function*() {
      const ownRoot = options.local?.root === undefined
      const root = options.local?.root ??
        (yield* Effect.promise(() => mkdtemp(join(tmpdir(), "sandkit-emulator-"))))
      yield* Effect.addFinalizer(() =>
        ownRoot ? Effect.promise(() => rm(root, { recursive: true, force: true }).catch(() => undefined)) : Effect.void
      )
      const engine = yield* LocalProvider.make({ ...options.local, root })
      const registry = new Registry<Ext>(engine, options, hooks)
      yield* Effect.addFinalizer(() => Effect.promise(() => registry.close()))
      return registry
    })
  }

  get size(): number {
    return this.sandboxes.size
  }

  /** The most sandboxes that were live at once since the registry started or `resetPeak` was called. */
  get peak(): number {
    return this.highWater
  }

  /** Start counting `peak` again from the sandboxes live now. */
  resetPeak(): this {
    this.highWater = this.sandboxes.size
    return this
  }

  get(id: string): EmulatedSandbox<Ext> | undefined {
    return this.sandboxes.get(id)
  }

  list(): ReadonlyArray<EmulatedSandbox<Ext>> {
    return [...this.sandboxes.values()]
  }

  ids(): ReadonlyArray<string> {
    return [...this.sandboxes.keys()]
  }

  /** Create a sandbox (and its local sandbox). Throws `QuotaReached` past the concurrency quota. */
  create(input: CreateInput<Ext>): Promise<EmulatedSandbox<Ext>> {
    const creating = this.createNow(input)
    this.creating.add(creating)
    void creating.then(() => this.creating.delete(creating), () => this.creating.delete(creating))
    return creating
  }

  private async createNow(input: CreateInput<Ext>): Promise<EmulatedSandbox<Ext>> {
    if (this.closed) throw new Error("the emulator is closed")
    if (this.quota !== undefined && this.sandboxes.size + this.reserved >= this.quota.maxConcurrent) {
      throw new QuotaReached(this.quota.failure)
    }
    const id = (this.options.idPrefix ?? "") + randomId(20)
    // The sandbox joins the map only once its engine exists: until then it holds a slot of the quota, or creates
    // arriving together would all pass the check.
    this.reserved += 1
    let engine: DriverSandbox
    try {
      engine = await Effect.runPromise(this.engine.create({
        labels: { "sandkit.emulated": id },
        env: { ...input.env },
        network: { outbound: input.network ?? true }
      }))
    } finally {
      // Released in the same synchronous step that puts the sandbox in the map (below), so no check sees neither.
      this.reserved -= 1
    }
    if (this.closed) {
      // The emulator closed while this create was in flight: nothing may outlive it.
      await Effect.runPromise(Effect.ignore(this.engine.destroy(engine.info.id)))
      throw new Error("the emulator is closed")
    }
    const now = Date.now()
    const base: Omit<EmulatedSandbox<Ext>, "ext"> = {
      id,
      template: input.template,
      metadata: { ...input.metadata },
      env: { ...input.env },
      createdAt: new Date(now),
      endAt: input.timeoutMs === undefined ? undefined : new Date(now + input.timeoutMs),
      state: "running",
      readyAt: now + this.readinessDelayMs,
      home: engine.info.workdir,
      engine
    }
    const sandbox: EmulatedSandbox<Ext> = { ...base, ext: input.ext(base) }
    this.sandboxes.set(id, sandbox)
    this.highWater = Math.max(this.highWater, this.sandboxes.size)
    this.arm(sandbox)
    return sandbox
  }

  /** Destroy a sandbox: it disappears at once, then its local sandbox is destroyed. False when it did not exist. */
  destroy(id: string, reason: RemovalReason = "destroyed"): Promise<boolean> {
    const inFlight = this.removing.get(id)
    if (inFlight !== undefined) return inFlight
    const sandbox = this.sandboxes.get(id)
    if (sandbox === undefined) return Promise.resolve(false)
    this.sandboxes.delete(id)
    this.disarm(id)
    this.removals.push({ id, reason })
    const done = (async () => {
      try {
        await this.hooks.onRemove?.(sandbox, reason).catch(() => undefined)
        await Effect.runPromise(Effect.ignore(this.engine.destroy(sandbox.engine.info.id)))
      } finally {
        this.removing.delete(id)
      }
      return true
    })()
    this.removing.set(id, done)
    return done
  }

  /** Set (or with `undefined` clear) the provider-side lifetime from now. */
  setTimeout(id: string, timeoutMs: number | undefined): boolean {
    const sandbox = this.sandboxes.get(id)
    if (sandbox === undefined) return false
    sandbox.endAt = timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs)
    this.arm(sandbox)
    return true
  }

  /** Paused sandboxes do not expire; resuming starts a new lifetime. */
  setState(id: string, state: SandboxStatus, timeoutMsOnResume?: number): boolean {
    const sandbox = this.sandboxes.get(id)
    if (sandbox === undefined) return false
    sandbox.state = state
    if (state === "paused") this.disarm(id)
    else if (timeoutMsOnResume !== undefined) this.setTimeout(id, timeoutMsOnResume)
    else this.arm(sandbox)
    return true
  }

  /** Whether the sandbox's data plane answers yet (slow readiness). */
  isReady(sandbox: EmulatedSandbox<Ext>): boolean {
    return Date.now() >= sandbox.readyAt
  }

  // -------------------------------------------------------------------------------------------------------------
  // Fault knobs
  // -------------------------------------------------------------------------------------------------------------

  /** Refuse creates past `maxConcurrent` live sandboxes with `failure` (default 429 without Retry-After). */
  setQuota(maxConcurrent: number | undefined, failure?: Partial<FailureSpec>): this {
    this.quota = maxConcurrent === undefined ? undefined : {
      maxConcurrent,
      failure: {
        status: failure?.status ?? 429,
        message: failure?.message ?? `You have reached the maximum number of concurrent sandboxes (${maxConcurrent})`,
        ...(failure?.retryAfter === undefined ? {} : { retryAfter: failure.retryAfter }),
        ...(failure?.headers === undefined ? {} : { headers: failure.headers })
      }
    }
    return this
  }

  /** Sandboxes created from now on answer on their data plane only `delayMs` after creation. */
  setReadinessDelay(delayMs: number): this {
    this.readinessDelayMs = Math.max(0, delayMs)
    return this
  }

  /** Delete the sandbox silently `delayMs` from now (no client is told). */
  deleteAfter(id: string, delayMs: number): boolean {
    const sandbox = this.sandboxes.get(id)
    if (sandbox === undefined) return false
    this.disarm(id)
    this.schedule(id, delayMs, "deleted")
    return true
  }

  /** Delete the sandbox silently, now. */
  deleteNow(id: string): Promise<boolean> {
    return this.destroy(id, "deleted")
  }

  /** Clear the sandbox-level knobs (quota, readiness delay). Scheduled deletions stay. */
  clearKnobs(): this {
    this.quota = undefined
    this.readinessDelayMs = 0
    return this
  }

  /** Destroy every sandbox; later creates fail. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.allSettled([...this.creating])
    await Promise.all([...this.sandboxes.keys()].map((id) => this.destroy(id, "closed")))
    await Promise.all([...this.removing.values()])
  }

  private arm(sandbox: EmulatedSandbox<Ext>): void {
    this.disarm(sandbox.id)
    if (sandbox.endAt === undefined || sandbox.state === "paused") return
    this.schedule(sandbox.id, sandbox.endAt.getTime() - Date.now(), "expired")
  }

  private schedule(id: string, delayMs: number, reason: RemovalReason): void {
    const timer = setTimeout(() => {
      this.timers.delete(id)
      void this.destroy(id, reason)
    }, Math.min(Math.max(0, delayMs), MAX_TIMER_MS))
    ;(timer as { unref?: () => void }).unref?.()
    this.timers.set(id, timer)
  }

  private disarm(id: string): void {
    const timer = this.timers.get(id)
    if (timer !== undefined) clearTimeout(timer)
    this.timers.delete(id)
  }
}
