/**
 * One devbox as a core `DriverSandbox`. Opening waits until it runs (the core `readiness` schedule: a `retrieve`
 * per second, 120 tries, as the OpenHands runtime did) and learns the user's home from `pwd`, which `info.workdir`
 * reports. Pause / resume are Runloop's suspend / resume, each waited for on the same schedule; `exposePort` enables
 * the devbox's one tunnel (or reuses it) and builds the port's URL.
 */
import type { DriverSandbox, SandboxError, SnapshotRef } from "@sandkit/core"
import { awaitReadiness, FileNotFound, ProviderError, RetryPolicy, SandboxNotFound } from "@sandkit/core"
import { Cause, Effect, Exit, Option } from "effect"
import { call, type DevboxView, transfer, type TunnelView } from "./api.ts"
import * as Commands from "./commands.ts"
import type { ResolvedConfig } from "./config.ts"
import { PROVIDER } from "./errors.ts"
import { makeFiles } from "./files.ts"
import { CWD_KEY, DEFAULT_HOME, infoOf, quote, workdirOf } from "./spec.ts"

export interface Deps {
  readonly config: ResolvedConfig
  /** Tunnels known per devbox (one tunnel serves every port). */
  readonly tunnels: Map<string, TunnelView>
}

const BOOTING = new Set(["scheduled", "queued", "provisioning", "initializing", "resuming"])
const ENDED = new Set(["shutdown", "failure"])

export const retrieve = (deps: Deps, id: string): Effect.Effect<DevboxView, SandboxError> =>
  call(deps.config, "retrieve", id, (client, options) => client.devboxes.retrieve(id, options))

/** `SandboxNotFound` when Runloop says the devbox has ended (a shut-down devbox stays visible with that status). */
const ended = (view: DevboxView) =>
  new SandboxNotFound({
    provider: PROVIDER,
    sandboxId: view.id,
    message: `runloop: devbox ${view.id} has ${view.status === "failure" ? `failed (${view.failure_reason ?? "unknown reason"})` : "been shut down"}`
  })

/**
 * Refine the failure of a call about devbox `id`: a 400/404 may mean the devbox is gone or not running, which one
 * `retrieve` tells apart; when it runs, `whenRunning` decides. Only failures are refined: the happy path makes no
 * extra call.
 */
const classify = (deps: Deps, id: string, error: SandboxError, whenRunning: (error: SandboxError) => SandboxError) => {
  if (error._tag !== "InvalidRequest" && error._tag !== "SandboxNotFound") return Effect.fail(error)
  return Effect.flatMap(Effect.exit(retrieve(deps, id)), (exit): Effect.Effect<never, SandboxError> => {
    if (Exit.isFailure(exit)) {
      const reason = Cause.findErrorOption(exit.cause)
      return Option.isSome(reason) && reason.value._tag === "SandboxNotFound"
        ? Effect.fail(new SandboxNotFound({ provider: PROVIDER, sandboxId: id, message: `runloop: devbox ${id} does not exist`, cause: error.cause }))
        : Effect.fail(error)
    }
    const view = exit.value
    if (ENDED.has(view.status)) return Effect.fail(ended(view))
    if (view.status !== "running") {
      return Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: id, message: `runloop: devbox ${id} is ${view.status}, not running: ${error.message}`, cause: error.cause }))
    }
    return Effect.fail(whenRunning(error))
  })
}

export const refine = (deps: Deps, id: string) => (error: SandboxError): Effect.Effect<never, SandboxError> =>
  classify(deps, id, error, (e) => e._tag === "SandboxNotFound"
      ? new ProviderError({ provider: PROVIDER, sandboxId: id, message: e.message, cause: e.cause, status: 404 })
      : e)

/** For file calls: when the devbox runs, a 404 is about the file. */
const refineFile = (deps: Deps, id: string) => (path: string) => (error: SandboxError): Effect.Effect<never, SandboxError> =>
  classify(deps, id, error, (e) =>
    e._tag === "SandboxNotFound"
      ? new FileNotFound({ provider: PROVIDER, sandboxId: id, path, message: `runloop files: ${path} does not exist`, cause: e.cause })
      : e)

/** Poll `retrieve` on the readiness schedule until the devbox runs; `StartupTimeout` past the last try. */
export const awaitRunning = (deps: Deps, id: string): Effect.Effect<DevboxView, SandboxError> =>
  Effect.gen(function*() {
    let last: DevboxView | undefined
    const probe = retrieve(deps, id).pipe(
      Effect.flatMap((view): Effect.Effect<boolean, SandboxError> => {
        last = view
        if (ENDED.has(view.status)) return Effect.fail(ended(view))
        if (view.status === "running") return Effect.succeed(true)
        if (BOOTING.has(view.status)) return Effect.succeed(false)
        return Effect.fail(new ProviderError({ provider: PROVIDER, sandboxId: id, message: `runloop: devbox ${id} is ${view.status}; resume it first` }))
      }),
      // A hiccup while waiting is not a reason to stop waiting: the next poll asks again.
      Effect.catchIf((e: SandboxError) => e._tag === "ProviderUnavailable" || e._tag === "RateLimited", () => Effect.succeed(false))
    )
    yield* awaitReadiness(probe, { provider: PROVIDER, sandboxId: id })
    return last!
  })

/** Poll until the devbox is `target` (suspend), on the readiness schedule. */
const awaitStatus = (deps: Deps, id: string, target: DevboxView["status"], passing: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const policy = yield* RetryPolicy
    const status = yield* retrieve(deps, id).pipe(
      Effect.map((view) => view.status),
      Effect.repeat({ schedule: policy.readiness, until: (s) => s === target || !passing.includes(s) })
    )
    if (status !== target) {
      return yield* (ENDED.has(status)
        ? new SandboxNotFound({ provider: PROVIDER, sandboxId: id, message: `runloop: devbox ${id} ended while becoming ${target}` })
        : new ProviderError({ provider: PROVIDER, sandboxId: id, message: `runloop: devbox ${id} is ${status}, not ${target}` }))
    }
  })

/** The devbox's tunnel: the known one, a new one, or (when Runloop says it has one already) the one it has. */
const tunnelOf = (deps: Deps, id: string): Effect.Effect<TunnelView, SandboxError> => {
  const known = deps.tunnels.get(id)
  if (known !== undefined) return Effect.succeed(known)
  const remember = (tunnel: TunnelView) =>
    Effect.sync(() => {
      deps.config.secrets.add(tunnel.auth_token)
      deps.tunnels.set(id, tunnel)
      return tunnel
    })
  return call(deps.config, "exposePort", id, (client, options) =>
    client.devboxes.enableTunnel(id, { auth_mode: deps.config.tunnelAuth }, options)).pipe(
      Effect.catchTag("InvalidRequest", (error) =>
        Effect.flatMap(retrieve(deps, id), (view) => (view.tunnel === null || view.tunnel === undefined ? refine(deps, id)(error) : Effect.succeed(view.tunnel)))),
      Effect.catch(refine(deps, id)),
      Effect.flatMap(remember)
    )
}

/** Open a running devbox: learn its home (`pwd`), build the handle. A devbox not running gets the default home. */
export const open = (deps: Deps, view: DevboxView): Effect.Effect<DriverSandbox, SandboxError> =>
  Effect.gen(function*() {
    const id = view.id
    const { config } = deps
    const refineHere = refine(deps, id)
    if (view.tunnel !== null && view.tunnel !== undefined) {
      deps.tunnels.set(id, view.tunnel)
      config.secrets.add(view.tunnel.auth_token)
    }
    const cwd = view.metadata?.[CWD_KEY]
    const given = config.home(id)
    const paths: Commands.Paths = { home: given ?? DEFAULT_HOME, workdir: workdirOf(view, given ?? DEFAULT_HOME) }
    // A home given in the options is trusted; a spec `cwd` is still created by the probe.
    let known = given !== undefined && cwd === undefined
    const probe: Commands.CommandContext = { config, devboxId: id, paths, ready: Effect.void, refine: refineHere }
    // As given (no `cd` prefix): Runloop starts commands in the user's home, which `pwd` prints. The spec's `cwd`
    // (relative to the home) is created on the way.
    const learn = Commands.exec(probe, `${cwd === undefined ? "" : `mkdir -p -- ${quote(cwd)} 2>/dev/null; `}pwd`, {}, true).pipe(
      Effect.map((pwd) => {
        const printed = pwd.stdout.trim().split("\n").at(-1) ?? ""
        if (pwd.exitCode === 0 && printed.startsWith("/")) paths.home = printed
        paths.workdir = workdirOf(view, paths.home)
        known = true
      })
    )
    const ready = Effect.suspend(() => (known ? Effect.void : learn))
    // A suspended devbox cannot run `pwd`: its paths are learnt by the first command after it resumes.
    if (view.status === "running" && !known) yield* learn
    const ctx: Commands.CommandContext = { config, devboxId: id, paths, ready, refine: refineHere }
    const handle: DriverSandbox = {
      info: infoOf(view, paths.workdir),
      refresh: retrieve(deps, id).pipe(
        Effect.flatMap((v) => (ENDED.has(v.status) ? Effect.fail(ended(v)) : Effect.succeed(infoOf(v, paths.workdir))))
      ),
      exec: (command, options) => Commands.exec(ctx, command, options),
      execStream: (command, options) => Commands.execStream(ctx, command, options),
      spawn: (command, options) => Commands.spawn(ctx, command, options),
      files: makeFiles({ ...ctx, refineFile: refineFile(deps, id) }),
      exposePort: (port) =>
        Effect.map(tunnelOf(deps, id), (tunnel) => ({
          port,
          url: config.tunnelUrl({ tunnelKey: tunnel.tunnel_key, port, devboxId: id }),
          token: tunnel.auth_token ?? undefined
        })),
      pause: call(config, "pause", id, (client, options) => client.devboxes.suspend(id, options)).pipe(
        Effect.catch(refineHere),
        Effect.andThen(awaitStatus(deps, id, "suspended", ["suspending", "running"]))
      ),
      resume: call(config, "resume", id, (client, options) => client.devboxes.resume(id, options)).pipe(
        Effect.catch(refineHere),
        Effect.andThen(awaitRunning(deps, id)),
        Effect.andThen(ready)
      ),
      // A disk snapshot may take minutes.
      snapshot: call(config, "snapshot", id, (client, options) => client.devboxes.snapshotDisk(id, {}, options), transfer(config)).pipe(
          Effect.catch(refineHere),
          Effect.map((snapshot): SnapshotRef => ({
            provider: PROVIDER,
            id: snapshot.id,
            createdAt: new Date(snapshot.create_time_ms),
            sizeBytes: snapshot.size_bytes ?? undefined,
            sourceSandboxId: snapshot.source_devbox_id
          }))
        )
    }
    return handle
  })

