/**
 * The devbox control plane: create (boot: provisioning → initializing, launch commands and blueprint setup run for
 * real → running, then the entrypoint), retrieve, update, list (newest first, by status, cursor pages), the
 * `wait_for_status` long poll, shutdown, suspend / resume, keep-alive, tunnels and usage.
 */
import { QuotaReached, type RemovalReason } from "../Registry.ts"
import type { Req } from "./transport.ts"
import { type Blueprint, type Ctx, currentView, fail, hold, intParam, notFound, ok, type Reply, touch, usable } from "./context.ts"
import { killAll, releaseAll, startExecution } from "./executions.ts"
import { restorable, restore, type SnapshotRecord } from "./snapshots.ts"
import { makeTunnel } from "./tunnels.ts"
import {
  asRecord,
  DEVBOX_STATUSES,
  type Devbox,
  type DevboxStatus,
  later,
  makeState,
  setStatus,
  type ShutdownReason,
  stringMap,
  view
} from "./state.ts"

const SIZES = ["X_SMALL", "SMALL", "MEDIUM", "LARGE", "X_LARGE", "XX_LARGE", "CUSTOM_SIZE"]
const TERMINAL: ReadonlyArray<DevboxStatus> = ["shutdown", "failure"]

/** Timers may not exceed ~24.8 days (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1

const isEven = (n: number) => Number.isInteger(n) && n % 2 === 0

/** Why these launch parameters would be refused, or `undefined`. */
export const checkLaunchParameters = (lp: Record<string, unknown>): string | undefined => {
  const size = lp["resource_size_request"]
  if (size !== undefined && size !== null && !SIZES.includes(String(size))) {
    return `launch_parameters.resource_size_request must be one of ${SIZES.join(", ")}`
  }
  if (size === "CUSTOM_SIZE") {
    const cpu = lp["custom_cpu_cores"]
    const memory = lp["custom_gb_memory"]
    const disk = lp["custom_disk_size"]
    if (typeof cpu !== "number" || !(cpu === 0.5 || cpu === 1 || isEven(cpu)) || cpu > 16) {
      return "custom_cpu_cores must be 0.5, 1 or a multiple of 2 up to 16"
    }
    if (typeof memory !== "number" || !(memory === 1 || isEven(memory)) || memory > 64) {
      return "custom_gb_memory must be 1 or a multiple of 2 up to 64"
    }
    if (disk !== undefined && disk !== null && (typeof disk !== "number" || !isEven(disk) || disk < 2 || disk > 64)) {
      return "custom_disk_size must be a multiple of 2 from 2 to 64"
    }
    if (memory / cpu < 2 || memory / cpu > 8) return "the cpu:memory ratio must be between 1:2 and 1:8"
  }
  const keepAlive = lp["keep_alive_time_seconds"]
  if (keepAlive !== undefined && keepAlive !== null &&
    (typeof keepAlive !== "number" || !Number.isInteger(keepAlive) || keepAlive < 1 || keepAlive > 172_800)) {
    return "keep_alive_time_seconds must be an integer from 1 to 172800"
  }
  const commands = lp["launch_commands"]
  if (commands !== undefined && commands !== null && (!Array.isArray(commands) || commands.some((c) => typeof c !== "string"))) {
    return "launch_commands must be a list of strings"
  }
  for (const idle of [lp["after_idle"], asRecord(lp["lifecycle"])["after_idle"]]) {
    if (idle === undefined || idle === null) continue
    const i = asRecord(idle)
    if (typeof i["idle_time_seconds"] !== "number" || i["idle_time_seconds"] <= 0) return "after_idle.idle_time_seconds must be positive"
    if (i["on_idle"] !== "shutdown" && i["on_idle"] !== "suspend") return "after_idle.on_idle must be shutdown or suspend"
  }
  return undefined
}

const idlePolicy = (lp: Record<string, unknown>) => {
  const idle = asRecord(lp["after_idle"] ?? asRecord(lp["lifecycle"])["after_idle"])
  return typeof idle["idle_time_seconds"] === "number"
    ? { ms: idle["idle_time_seconds"] * 1000, onIdle: idle["on_idle"] === "suspend" ? "suspend" as const : "shutdown" as const }
    : undefined
}

export const blueprintId = (blueprint: Blueprint): string =>
  blueprint.id ?? `bpt_${Array.from(blueprint.name, (c) => c.charCodeAt(0).toString(36)).join("").slice(0, 20)}`

/**
 * Boot a created devbox: provisioning → initializing (snapshot restore, setup and launch commands run) → running,
 * then the entrypoint. With zero timings, nothing to run and no readiness delay, it is running at once (the create
 * answer, made before, still says `provisioning`, as Runloop's does).
 */
const boot = (ctx: Ctx, devbox: Devbox, setup: ReadonlyArray<string>, snapshot: SnapshotRecord | undefined): void => {
  const alive = () => ctx.registry.get(devbox.id) === devbox && !TERMINAL.includes(devbox.ext.status)
  const run = () => {
    setStatus(devbox, "running")
    touch(ctx, devbox)
    startEntrypoint(ctx, devbox)
  }
  if (ctx.timing.provisioningMs <= 0 && ctx.timing.initializingMs <= 0 && setup.length === 0 && snapshot === undefined &&
    ctx.registry.isReady(devbox)) {
    setStatus(devbox, "initializing")
    return run()
  }
  later(devbox, ctx.timing.provisioningMs, () => {
    if (!alive()) return
    setStatus(devbox, "initializing")
    const started = Date.now()
    void (async () => {
      if (snapshot !== undefined) {
        const restored = await restore(devbox, snapshot).then(() => true, () => false)
        if (!alive()) return
        if (!restored) {
          devbox.ext.failureReason = "execution_failed"
          await end(ctx, devbox, "failure")
          return
        }
      }
      for (const command of setup) {
        const execution = await startExecution(devbox, command, { attachStdin: false, shell: ctx.options.shell })
        await execution.done
        if (!alive()) return
        if (execution.exitStatus !== 0) {
          devbox.ext.failureReason = "execution_failed"
          await end(ctx, devbox, "failure")
          return
        }
      }
      // Running once the initializing time has passed and the registry's readiness delay (a fault knob) allows.
      const whenReady = () => {
        if (!alive()) return
        const wait = Math.max(ctx.timing.initializingMs - (Date.now() - started), devbox.readyAt - Date.now(), 0)
        if (wait <= 0) return run()
        later(devbox, Math.min(wait, MAX_TIMER_MS), whenReady)
      }
      whenReady()
    })()
  })
}

const startEntrypoint = (ctx: Ctx, devbox: Devbox): void => {
  const entrypoint = devbox.ext.entrypoint
  if (entrypoint === null) return
  void startExecution(devbox, entrypoint, { attachStdin: false, shell: ctx.options.shell }).then(async (execution) => {
    await execution.done
    // The devbox's lifecycle is bound to its entrypoint.
    if (ctx.registry.get(devbox.id) === devbox && devbox.ext.status === "running") await shutdownDevbox(ctx, devbox, "entrypoint_exit")
  })
}

/** End a devbox: terminal status (waking every waiter), then out of the registry (its tombstone stays). */
const end = async (ctx: Ctx, devbox: Devbox, status: "shutdown" | "failure"): Promise<Reply> => {
  devbox.ext.endTimeMs = Date.now()
  setStatus(devbox, status)
  const final = view(devbox)
  ctx.tombstones.set(devbox.id, final)
  await ctx.registry.destroy(devbox.id)
  return ok(final)
}

export const shutdownDevbox = (ctx: Ctx, devbox: Devbox, reason: ShutdownReason): Promise<Reply> => {
  devbox.ext.shutdownReason = reason
  return end(ctx, devbox, "shutdown")
}

/** The registry's `onRemove` hook: whatever removed the devbox, release its processes and leave a tombstone. */
export const onRemove = (ctx: Ctx) => async (devbox: Devbox, reason: RemovalReason): Promise<void> => {
  const state = devbox.ext
  for (const timer of state.timers) clearTimeout(timer)
  state.timers.clear()
  if (state.idle?.timer !== undefined) clearTimeout(state.idle.timer)
  if (!TERMINAL.includes(state.status) && (reason === "expired" || reason === "destroyed")) {
    state.shutdownReason = reason === "expired" ? "keep_alive_timeout" : "api_shutdown"
    state.endTimeMs = Date.now()
    setStatus(devbox, "shutdown")
    ctx.tombstones.set(devbox.id, view(devbox))
  } else if (!TERMINAL.includes(state.status)) {
    // Deleted behind the client's back (or the emulator closed): it is simply gone.
    state.status = "shutdown"
    for (const watcher of [...state.watchers]) watcher()
  }
  for (const open of state.open) open.abort()
  state.open.clear()
  await releaseAll(devbox)
}

export const create = async (ctx: Ctx, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const lp = asRecord(body["launch_parameters"])
  const sources = ["blueprint_id", "blueprint_name", "snapshot_id"].filter((k) => body[k] !== undefined && body[k] !== null)
  if (sources.length > 1) return fail(400, "only one of snapshot_id, blueprint_id and blueprint_name may be given")
  const problem = checkLaunchParameters(lp)
  if (problem !== undefined) return fail(400, problem)
  const metadata = stringMap(body["metadata"], "metadata")
  if (typeof metadata === "string") return fail(400, metadata)
  const env = stringMap(body["environment_variables"], "environment_variables")
  if (typeof env === "string") return fail(400, env)
  if (body["name"] !== undefined && body["name"] !== null && typeof body["name"] !== "string") return fail(400, "name must be a string")
  let blueprint: Blueprint | undefined
  if (typeof body["blueprint_name"] === "string" || typeof body["blueprint_id"] === "string") {
    const wanted = body["blueprint_name"] ?? body["blueprint_id"]
    blueprint = ctx.options.blueprints.find((b) => b.name === wanted || blueprintId(b) === wanted)
    if (blueprint === undefined) return fail(400, `Blueprint ${String(wanted)} not found`)
  }
  let snapshot: SnapshotRecord | undefined
  if (typeof body["snapshot_id"] === "string") {
    snapshot = await restorable(ctx, body["snapshot_id"])
    if (snapshot === undefined) return fail(400, `Snapshot ${body["snapshot_id"]} not found`)
  }
  const keepAliveSeconds = typeof lp["keep_alive_time_seconds"] === "number" ? lp["keep_alive_time_seconds"] : ctx.options.keepAliveSeconds
  let devbox: Devbox
  try {
    devbox = await ctx.registry.create({
      template: blueprint === undefined ? "default" : blueprintId(blueprint),
      metadata,
      env,
      network: true,
      timeoutMs: keepAliveSeconds * 1000,
      ext: () =>
        makeState({
          name: typeof body["name"] === "string" ? body["name"] : null,
          metadata,
          launchParameters: lp,
          blueprintId: blueprint === undefined ? null : blueprintId(blueprint),
          snapshotId: snapshot === undefined ? null : snapshot.view.id,
          entrypoint: typeof body["entrypoint"] === "string" && body["entrypoint"] !== "" ? body["entrypoint"] : null,
          keepAliveMs: keepAliveSeconds * 1000,
          idle: idlePolicy(lp),
          tunnel: body["tunnel"] === undefined || body["tunnel"] === null ? null : makeTunnel(asRecord(body["tunnel"]))
        })
    })
  } catch (error) {
    if (!(error instanceof QuotaReached)) throw error
    const { failure } = error
    return fail(failure.status, failure.message ?? "devbox quota reached", {
      ...(failure.retryAfter === undefined ? {} : { "retry-after": String(failure.retryAfter) }),
      ...failure.headers
    })
  }
  const commands = Array.isArray(lp["launch_commands"]) ? lp["launch_commands"] as ReadonlyArray<string> : []
  const answer = ok(view(devbox))
  boot(ctx, devbox, snapshot === undefined ? [...(blueprint?.setup ?? []), ...commands] : commands, snapshot)
  return answer
}

/** `create`, then hold (within the long-poll window) until the devbox has booted. */
export const createAndAwaitRunning = async (ctx: Ctx, req: Req): Promise<Reply> => {
  const created = await create(ctx, req)
  const id = (created.body as { readonly id?: string }).id
  const devbox = id === undefined ? undefined : ctx.registry.get(id)
  if (created.status !== 200 || id === undefined || devbox === undefined) return created
  await hold(req, ctx.options.longPollMs, (wake) => {
    devbox.ext.watchers.add(wake)
    return () => devbox.ext.watchers.delete(wake)
  }, () => !["provisioning", "initializing"].includes(currentView(ctx, id)?.status ?? "shutdown"))
  return ok(currentView(ctx, id) ?? created.body)
}

export const retrieve = (ctx: Ctx, id: string): Reply => {
  const found = currentView(ctx, id)
  return found === undefined ? notFound(id) : ok(found)
}

export const update = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const devbox = ctx.registry.get(id)
  if (devbox === undefined) return ctx.tombstones.has(id) ? fail(400, `Devbox ${id} has ended`) : notFound(id)
  if (body["metadata"] !== undefined && body["metadata"] !== null) {
    const metadata = stringMap(body["metadata"], "metadata")
    if (typeof metadata === "string") return fail(400, metadata)
    devbox.ext.metadata = metadata
  }
  if (typeof body["name"] === "string") devbox.ext.name = body["name"] === "" ? null : body["name"]
  return ok(view(devbox))
}

export const list = (ctx: Ctx, url: URL): Reply => {
  const status = url.searchParams.get("status")
  if (status !== null && status !== "" && !DEVBOX_STATUSES.includes(status as DevboxStatus)) return fail(400, `unknown status ${status}`)
  const limit = intParam(url, "limit")
  if (limit === null || limit === 0) return fail(400, "limit must be a positive integer")
  const all = [...ctx.registry.list().map(view), ...ctx.tombstones.values()]
    .filter((v) => status === null || status === "" || v.status === status)
    .sort((a, b) => b.create_time_ms - a.create_time_ms || (a.id < b.id ? 1 : -1))
  const after = url.searchParams.get("starting_after")
  const start = after === null || after === "" ? 0 : all.findIndex((v) => v.id === after) + 1
  const size = Math.min(limit ?? ctx.options.pageSize, 5000)
  const page = start === 0 && after !== null && after !== "" ? [] : all.slice(start, start + size)
  const body: Record<string, unknown> = { devboxes: page, has_more: start + page.length < all.length && page.length > 0 }
  if (url.searchParams.get("include_total_count") !== "false") body["total_count"] = all.length
  return ok(body)
}

/** Hold until the devbox is in one of `statuses`, or answer 408 after the long-poll window. */
export const waitForStatus = async (ctx: Ctx, id: string, req: Req): Promise<Reply> => {
  const body = asRecord(await req.json())
  const statuses = Array.isArray(body["statuses"]) ? body["statuses"].map(String) : []
  if (statuses.length === 0 || statuses.some((s) => !DEVBOX_STATUSES.includes(s as DevboxStatus))) {
    return fail(400, "statuses must list at least one devbox status")
  }
  const devbox = ctx.registry.get(id)
  if (devbox === undefined) {
    const tomb = ctx.tombstones.get(id)
    if (tomb === undefined) return notFound(id)
    return statuses.includes(tomb.status) ? ok(tomb) : fail(408, `Devbox ${id} did not reach ${statuses.join("|")}`, { "x-should-retry": "true" })
  }
  const matched = await hold(req, ctx.options.longPollMs, (wake) => {
    devbox.ext.watchers.add(wake)
    return () => devbox.ext.watchers.delete(wake)
  }, () => statuses.includes(currentView(ctx, id)?.status ?? "shutdown"))
  const now = currentView(ctx, id)
  if (now === undefined) return notFound(id)
  return matched ? ok(now) : fail(408, `Devbox ${id} did not reach ${statuses.join("|")} in time`, { "x-should-retry": "true" })
}

export const shutdown = async (ctx: Ctx, id: string): Promise<Reply> => {
  const devbox = ctx.registry.get(id)
  if (devbox === undefined) {
    const tomb = ctx.tombstones.get(id)
    return tomb === undefined ? notFound(id) : ok(tomb)
  }
  return shutdownDevbox(ctx, devbox, "api_shutdown")
}

export const suspendDevbox = async (ctx: Ctx, devbox: Devbox): Promise<Reply> => {
  setStatus(devbox, "suspending")
  // Suspension keeps the disk, not the processes.
  await killAll(devbox)
  later(devbox, ctx.timing.suspendingMs, () => {
    if (ctx.registry.get(devbox.id) !== devbox || devbox.ext.status !== "suspending") return
    ctx.registry.setState(devbox.id, "paused")
    setStatus(devbox, "suspended")
  })
  return ok(view(devbox))
}

export const suspend = async (ctx: Ctx, id: string): Promise<Reply> => {
  const found = usable(ctx, id)
  return "reply" in found ? found.reply : suspendDevbox(ctx, found.devbox)
}

export const resume = (ctx: Ctx, id: string): Reply => {
  const found = usable(ctx, id, ["suspended"])
  if ("reply" in found) return found.reply
  const devbox = found.devbox
  setStatus(devbox, "resuming")
  later(devbox, ctx.timing.resumingMs, () => {
    if (ctx.registry.get(devbox.id) !== devbox || devbox.ext.status !== "resuming") return
    ctx.registry.setState(devbox.id, "running", devbox.ext.keepAliveMs)
    setStatus(devbox, "running")
    touch(ctx, devbox)
    startEntrypoint(ctx, devbox)
  })
  return ok(view(devbox))
}

export const keepAlive = (ctx: Ctx, id: string): Reply => {
  const found = usable(ctx, id, ["running", "initializing", "provisioning"])
  if ("reply" in found) return found.reply
  ctx.registry.setTimeout(id, found.devbox.ext.keepAliveMs)
  return ok({})
}

export const usage = (ctx: Ctx, id: string): Reply => {
  const found = currentView(ctx, id)
  if (found === undefined) return notFound(id)
  const until = typeof found["end_time_ms"] === "number" ? found["end_time_ms"] : Date.now()
  const seconds = Math.max(0, Math.round((until - found.create_time_ms) / 1000))
  return ok({
    id,
    status: found.status,
    start_time_ms: found.create_time_ms,
    end_time_ms: found["end_time_ms"] ?? null,
    total_elapsed_seconds: seconds,
    total_active_seconds: seconds,
    vcpu_seconds: seconds,
    memory_gb_seconds: seconds,
    disk_gb_seconds: seconds
  })
}
