/**
 * A sandbox's life on the control plane: the `creating|starting → started` walk (after the configurable start delay,
 * or into `error` when a knob says so), stop (its processes are killed, its files kept), the idle auto-stop,
 * auto-archive and auto-delete after a stop, the TTL, and a state event pushed over socket.io on every change.
 * Emulated minutes last `world.minuteMs` milliseconds.
 */
import { killAllSessions } from "./sessions.ts"
import type { DaytonaSandbox, DaytonaStateName, DaytonaTimers, World } from "./state.ts"
import { timer, toRecord } from "./state.ts"

const clear = (timers: DaytonaTimers, key: keyof DaytonaTimers) => {
  const t = timers[key]
  if (t !== undefined) clearTimeout(t)
  timers[key] = undefined
}

export const clearTimers = (sandbox: DaytonaSandbox): void => {
  for (const key of ["transition", "autoStop", "autoArchive", "autoDelete", "ttl"] as const) clear(sandbox.ext.timers, key)
}

/** Track background work so `reset` and the tests can wait for it. */
const track = (world: World, work: Promise<unknown>): void => {
  const tracked = work.catch(() => undefined).finally(() => world.pending.delete(tracked))
  world.pending.add(tracked)
}

/** Move to `state`, tell the event listeners, and arm the timers that state has. */
export const transition = (world: World, sandbox: DaytonaSandbox, state: DaytonaStateName): void => {
  const oldState = sandbox.ext.state
  sandbox.ext.state = state
  sandbox.ext.updatedAt = new Date()
  if (world.registry.get(sandbox.id) === sandbox) world.registry.setState(sandbox.id, state === "started" ? "running" : "paused")
  clear(sandbox.ext.timers, "autoStop")
  clear(sandbox.ext.timers, "autoArchive")
  clear(sandbox.ext.timers, "autoDelete")
  if (state === "started") armAutoStop(world, sandbox)
  if (state === "stopped") armAfterStop(world, sandbox)
  if (world.knobs.events && oldState !== state) {
    world.hub.emit("sandbox.state.updated", { sandbox: toRecord(world, sandbox), oldState, newState: state })
  }
}

/** The walk to `started` from `creating` (a new sandbox) or `starting` (a start), honouring the knobs. */
export const beginStart = (world: World, sandbox: DaytonaSandbox, from: "creating" | "starting"): void => {
  clear(sandbox.ext.timers, "transition")
  sandbox.ext.desiredState = "started"
  sandbox.ext.errorReason = undefined
  sandbox.ext.stoppedBy = undefined
  sandbox.ext.lastActivityAt = new Date()
  const failure = world.knobs.failStarts.shift()
  const finish = () => {
    if (failure === undefined) {
      transition(world, sandbox, "started")
    } else {
      sandbox.ext.errorReason = failure
      transition(world, sandbox, "error")
    }
  }
  if (world.knobs.startDelayMs <= 0) {
    // Still announce the intermediate state to event listeners, as the real walk does.
    if (sandbox.ext.state !== from) transition(world, sandbox, from)
    finish()
    return
  }
  transition(world, sandbox, from)
  sandbox.ext.timers.transition = timer(world.knobs.startDelayMs, () => {
    sandbox.ext.timers.transition = undefined
    finish()
  })
}

/** Stop: every process is killed (files stay), then `stopped`. `by` records who asked (tests read it). */
export const stopSandbox = (world: World, sandbox: DaytonaSandbox, by: string): Promise<void> => {
  clear(sandbox.ext.timers, "transition")
  sandbox.ext.desiredState = "stopped"
  sandbox.ext.stoppedBy = by
  transition(world, sandbox, "stopping")
  const work = killAllSessions(sandbox).then(() => {
    if (world.registry.get(sandbox.id) === sandbox && sandbox.ext.state === "stopping") transition(world, sandbox, "stopped")
  })
  track(world, work)
  return work
}

/** Toolbox activity keeps an auto-stopping sandbox alive. */
export const touch = (world: World, sandbox: DaytonaSandbox): void => {
  sandbox.ext.lastActivityAt = new Date()
  if (sandbox.ext.state === "started") armAutoStop(world, sandbox)
}

const minutes = (world: World, n: number) => n * world.minuteMs

export const armAutoStop = (world: World, sandbox: DaytonaSandbox): void => {
  clear(sandbox.ext.timers, "autoStop")
  const interval = sandbox.ext.autoStopInterval
  if (interval <= 0 || sandbox.ext.state !== "started") return
  const due = sandbox.ext.lastActivityAt.getTime() + minutes(world, interval)
  sandbox.ext.timers.autoStop = timer(due - Date.now(), () => {
    sandbox.ext.timers.autoStop = undefined
    if (sandbox.ext.state === "started") void stopSandbox(world, sandbox, "auto-stop")
  })
}

const armAfterStop = (world: World, sandbox: DaytonaSandbox): void => {
  const { autoArchiveInterval, autoDeleteInterval } = sandbox.ext
  if (autoDeleteInterval >= 0) {
    sandbox.ext.timers.autoDelete = timer(minutes(world, autoDeleteInterval), () => {
      sandbox.ext.timers.autoDelete = undefined
      track(world, world.registry.destroy(sandbox.id, "expired"))
    })
  }
  // 0 means "the maximum" (30 days) in Daytona.
  const archiveAfter = autoArchiveInterval > 0 ? autoArchiveInterval : 30 * 24 * 60
  sandbox.ext.timers.autoArchive = timer(minutes(world, archiveAfter), () => {
    sandbox.ext.timers.autoArchive = undefined
    if (sandbox.ext.state === "stopped") transition(world, sandbox, "archived")
  })
}

/** TTL: the sandbox is deleted `ttlMinutes` from now (0 clears it). */
export const setTtl = (world: World, sandbox: DaytonaSandbox, ttlMinutes: number): void => {
  clear(sandbox.ext.timers, "ttl")
  if (ttlMinutes <= 0) {
    sandbox.ext.autoDestroyAt = undefined
    return
  }
  sandbox.ext.autoDestroyAt = new Date(Date.now() + ttlMinutes * 60_000)
  sandbox.ext.timers.ttl = timer(minutes(world, ttlMinutes), () => {
    sandbox.ext.timers.ttl = undefined
    track(world, world.registry.destroy(sandbox.id, "expired"))
  })
}

/** Re-arm the interval timers after an interval changed. */
export const rearm = (world: World, sandbox: DaytonaSandbox): void => {
  if (sandbox.ext.state === "started") armAutoStop(world, sandbox)
  if (sandbox.ext.state === "stopped") {
    clear(sandbox.ext.timers, "autoArchive")
    clear(sandbox.ext.timers, "autoDelete")
    armAfterStop(world, sandbox)
  }
}

/** What runs when the registry removes a sandbox (deleted, expired, emulator closed). */
export const onRemove = (world: World) => async (sandbox: DaytonaSandbox): Promise<void> => {
  clearTimers(sandbox)
  const oldState = sandbox.ext.state
  sandbox.ext.state = "destroyed"
  sandbox.ext.desiredState = "destroyed"
  if (world.knobs.events) {
    world.hub.emit("sandbox.state.updated", { sandbox: toRecord(world, sandbox), oldState, newState: "destroyed" })
  }
  await killAllSessions(sandbox)
}

export { track }
