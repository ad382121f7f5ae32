/**
 * What every Runloop route handler shares: the registry, the tombstones of devboxes that ended, the resolved
 * options, and small helpers (JSON replies, "is this devbox usable", long-poll holds, idle tracking).
 */
import type { SnapshotRecord } from "./snapshots.ts"
import type { Req } from "./transport.ts"
import type { Devbox, DevboxRegistry, DevboxStatus, ShutdownReason, Tombstone } from "./state.ts"
import { view } from "./state.ts"

export interface Blueprint {
  /** The name `blueprint_name` refers to. */
  readonly name: string
  /** The id `blueprint_id` refers to (default `bpt_` + a hash of the name). */
  readonly id?: string | undefined
  /** Commands run in the home while the devbox initializes (what a blueprint's setup leaves behind). */
  readonly setup?: ReadonlyArray<string> | undefined
}

export interface Timing {
  /** Time spent in `provisioning`. Default 0. */
  readonly provisioningMs: number
  /** Minimum time spent in `initializing` (the registry's readiness delay applies on top). Default 0. */
  readonly initializingMs: number
  /** Time spent in `suspending`. Default 0. */
  readonly suspendingMs: number
  /** Time spent in `resuming`. Default 0. */
  readonly resumingMs: number
}

export interface ResolvedOptions {
  readonly apiKey: string | undefined
  readonly pageSize: number
  /** How long `wait_for_status` holds before answering 408 (Runloop: up to 25-30 s). */
  readonly longPollMs: number
  /** Cut every output stream after this long with a 408 `error` event (the SDK reconnects from its offset). */
  readonly streamCutMs: number | undefined
  /** Bytes of each output stream an execution view carries at most (the tail); past it `*_truncated`. */
  readonly outputLimitBytes: number
  readonly blueprints: ReadonlyArray<Blueprint>
  readonly shell: string
  /** Default `keep_alive_time_seconds` (Runloop: 1 hour). */
  readonly keepAliveSeconds: number
}

export interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Readonly<Record<string, string>> | undefined
}

export interface Ctx {
  readonly registry: DevboxRegistry
  readonly tombstones: Map<string, Tombstone>
  readonly snapshots: Map<string, SnapshotRecord>
  readonly options: ResolvedOptions
  /** Mutable at run time through `emulator.timing`. */
  timing: Timing
  /** Devbox transitions the idle policy triggers (filled in by the devbox module). */
  readonly lifecycle: Lifecycle
}

export interface Lifecycle {
  shutdown: (devbox: Devbox, reason: ShutdownReason) => Promise<unknown>
  suspend: (devbox: Devbox) => Promise<unknown>
}

export const ok = (body: unknown, headers?: Readonly<Record<string, string>>): Reply => ({ status: 200, body, headers })

export const fail = (status: number, message: string, headers?: Readonly<Record<string, string>>): Reply => ({
  status,
  body: { code: status, message },
  headers
})

export const notFound = (id: string): Reply => fail(404, `Devbox ${id} not found`)

/** The live devbox's view, or its tombstone, or `undefined`. */
export const currentView = (ctx: Ctx, id: string): Tombstone | undefined => {
  const devbox = ctx.registry.get(id)
  return devbox === undefined ? ctx.tombstones.get(id) : view(devbox)
}

/** The devbox when it is in one of `statuses` (default: running), else the reply that says why not. */
export const usable = (
  ctx: Ctx,
  id: string,
  statuses: ReadonlyArray<DevboxStatus> = ["running"]
): { readonly devbox: Devbox } | { readonly reply: Reply } => {
  const devbox = ctx.registry.get(id)
  if (devbox === undefined) {
    const tomb = ctx.tombstones.get(id)
    return { reply: tomb === undefined ? notFound(id) : fail(400, `Devbox ${id} is not running (status: ${tomb.status})`) }
  }
  if (!statuses.includes(devbox.ext.status)) {
    return { reply: fail(400, `Devbox ${id} is not running (status: ${devbox.ext.status})`) }
  }
  touch(ctx, devbox)
  return { devbox }
}

/** Activity on the devbox: the idle timer starts again. */
export const touch = (ctx: Ctx, devbox: Devbox): void => {
  const idle = devbox.ext.idle
  if (idle === undefined) return
  if (idle.timer !== undefined) clearTimeout(idle.timer)
  idle.timer = setTimeout(() => {
    idle.timer = undefined
    if (ctx.registry.get(devbox.id) !== devbox || devbox.ext.status !== "running") return
    void (idle.onIdle === "suspend" ? ctx.lifecycle.suspend(devbox) : ctx.lifecycle.shutdown(devbox, "idle"))
  }, idle.ms)
  ;(idle.timer as { unref?: () => void }).unref?.()
}

/**
 * Hold a long poll: resolves true as soon as `check()` holds (checked at once and on every `subscribe` wake-up),
 * false after `ms` or when the client goes away.
 */
export const hold = (
  req: Req,
  ms: number,
  subscribe: (wake: () => void) => () => void,
  check: () => boolean
): Promise<boolean> =>
  new Promise((resolve) => {
    if (check()) return resolve(true)
    let settled = false
    const settle = (value: boolean) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      unsubscribe()
      req.gone.removeEventListener("abort", onGone)
      resolve(value)
    }
    const onGone = () => settle(false)
    const timer = setTimeout(() => settle(false), Math.max(0, ms))
    const unsubscribe = subscribe(() => {
      if (check()) settle(true)
    })
    req.gone.addEventListener("abort", onGone)
  })

/** A positive integer query parameter, `undefined` when absent, `null` when malformed. */
export const intParam = (url: URL, name: string): number | undefined | null => {
  const raw = url.searchParams.get(name)
  if (raw === null || raw === "") return undefined
  const n = Number(raw)
  return Number.isInteger(n) && n >= 0 ? n : null
}
