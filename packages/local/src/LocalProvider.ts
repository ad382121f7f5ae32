/**
 * `@sandkit/local`: sandboxes on this machine. Each one is a private workspace directory; commands run in the best
 * isolation tier the host allows (bubblewrap → unshare → plain process), probed once and declared in the capabilities.
 * State lives on disk under `root`, so `connect`, `list` and `reap` work from any process on the machine.
 */
import type {
  Capabilities,
  DriverSandbox,
  ResolvedSpec,
  SandboxDriver,
  SandboxError,
  SandboxInfo,
  SnapshotRef
} from "@sandkit/core"
import { InvalidRequest, layerFromDriver, PermissionDenied, ProviderError, SandboxNotFound, toMillis, Unsupported } from "@sandkit/core"
import { Config, Effect, Layer, Stream } from "effect"
import { existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { isAbsolute, join, resolve, sep } from "node:path"
import type { RunningChild } from "./internal/child.ts"
import { isAlive, killAllOf, killGroup } from "./internal/child.ts"
import { exec, execStream, spawnProcess, type CommandContext } from "./internal/commands.ts"
import { makeFiles } from "./internal/files.ts"
import { interpreters, parseError } from "./internal/runCode.ts"
import { detectTier, probeTier, type Limits, type Tier } from "./internal/isolation.ts"
import * as Store from "./internal/store.ts"

export type { Limits, Tier } from "./internal/isolation.ts"

export interface LocalOptions {
  /** Where sandboxes live. Default: `<os tmpdir>/sandkit-local`. */
  readonly root?: string
  /** `"auto"` (default) picks the best tier that works; naming a tier fails with `Unsupported` if it does not. */
  readonly isolation?: "auto" | Tier
  /**
   * When this program runs as root, run each sandbox's commands under a uid of its own (default true), so process
   * limits apply, and sandboxes cannot read root's files or each other's workspaces.
   */
  readonly dropPrivileges?: boolean
  /** Default rlimits for every command; `SandboxSpec.resources.memoryMiB` / `size` override the memory limit. */
  readonly limits?: Limits
}

/** Defaults chosen so ordinary tools (compilers, package managers, Node's large virtual reservations) still work. */
export const defaultLimits: Limits = {
  memoryMiB: 8192,
  processes: 1024,
  fileSizeMiB: 8192,
  openFiles: 4096
}

/** Address-space limits for the named sizes. */
const sizeMemoryMiB = { small: 1024, medium: 2048, large: 4096, xlarge: 8192 } as const

/** Sandbox uids are drawn from a range no distribution hands out to real users. */
const UID_BASE = 3_100_000
const UID_RANGE = 500_000
const PROBE_UID = 65534

const PROVIDER = "local"

export const defaultRoot = (): string => join(tmpdir(), "sandkit-local")

const ioError = (message: string) => (cause: unknown) => new ProviderError({ provider: PROVIDER, message: `${message}: ${String(cause)}`, cause })

const toSnapshotRef = (snapshot: Store.SnapshotState): SnapshotRef => ({
  provider: PROVIDER,
  id: snapshot.id,
  createdAt: new Date(snapshot.createdAt),
  sizeBytes: snapshot.sizeBytes,
  sourceSandboxId: snapshot.sourceSandboxId
})

const allocateUid = async (root: string, id: string): Promise<number> => {
  for (;;) {
    const uid = UID_BASE + Math.floor(Math.random() * UID_RANGE)
    if (await Store.claimUid(root, uid, id)) return uid
  }
}

/** Build the driver: probe the isolation tier, prepare the root directory. */
export const make = (options: LocalOptions = {}): Effect.Effect<SandboxDriver, Unsupported | ProviderError> =>
  Effect.gen(function*() {
    const root = options.root ?? defaultRoot()
    const isRoot = globalThis.process.getuid?.() === 0
    let dropPrivileges = isRoot && (options.dropPrivileges ?? true)
    yield* Effect.tryPromise({ try: () => Store.ensureRoot(root, dropPrivileges), catch: ioError(`cannot create ${root}`) })
    yield* Effect.promise(() => Store.sweepRemovals(root))
    const requested = options.isolation ?? "auto"
    const probeUid = dropPrivileges ? PROBE_UID : undefined
    if (dropPrivileges) {
      const failure = yield* Effect.promise(() => probeTier("process", root, PROBE_UID))
      if (failure !== undefined) {
        dropPrivileges = false
        yield* Effect.logDebug(`sandkit local: cannot drop root privileges (${failure}); commands run as root`)
      }
    }
    // A sandbox uid is an "other" user: below a parent it cannot enter, its own workspace is out of its reach (and the
    // tier probes, cached per process, may have been made under another root), so commands keep the caller's uid.
    const closed = dropPrivileges ? yield* Effect.promise(() => Store.closedAncestor(root)) : undefined
    if (closed !== undefined) {
      dropPrivileges = false
      yield* Effect.logWarning(
        `sandkit local: ${closed} cannot be entered by other users, so sandboxes under ${root} cannot run under uids of ` +
          `their own; their commands run as root. Choose a root below a traversable directory, or chmod o+x ${closed}.`
      )
    }
    let tier: Tier
    if (requested === "auto") {
      const probe = yield* Effect.promise(() => detectTier(root, dropPrivileges ? probeUid : undefined))
      tier = probe.tier
      if (probe.reasons.length > 0) yield* Effect.logDebug(`sandkit local: using ${tier}; skipped ${probe.reasons.join("; ")}`)
    } else {
      const failure = yield* Effect.promise(() => probeTier(requested, root, dropPrivileges ? probeUid : undefined))
      if (failure !== undefined) {
        return yield* new Unsupported({
          provider: PROVIDER,
          capability: `isolation:${requested}`,
          message: `the ${requested} isolation tier does not work here: ${failure}`
        })
      }
      tier = requested
    }

    const runCodeLanguages = interpreters.filter((i) => i.binaries.some(existsSync))
    const capabilities: Capabilities = {
      execStream: true,
      spawn: true,
      stdin: true,
      output: "separate",
      files: true,
      bulkTransfer: true,
      exposePort: true,
      runCode: runCodeLanguages.map((i) => i.language),
      setTimeout: true,
      pause: false,
      snapshot: true,
      template: false,
      isolation: tier
    }

    /** Processes started by this program, per sandbox; killed on destroy. */
    const children = new Map<string, Set<RunningChild>>()
    /**
     * Sandboxes this process destroyed (the latest few thousand). A command that passed its "does it exist" check just
     * before a destroy can start its process after destroy's kill sweep; it is killed as it registers instead of
     * outliving the sandbox.
     */
    const destroyed = new Set<string>()
    const markDestroyed = (id: string) => {
      destroyed.add(id)
      if (destroyed.size > 4096) destroyed.delete(destroyed.values().next().value!)
    }
    /** Lifetime timers of sandboxes created or connected here. */
    const expiryTimers = new Map<string, ReturnType<typeof setTimeout>>()

    const destroyNow = async (id: string): Promise<void> => {
      markDestroyed(id)
      const timer = expiryTimers.get(id)
      if (timer !== undefined) clearTimeout(timer)
      expiryTimers.delete(id)
      const own = children.get(id) ?? new Set()
      children.delete(id)
      for (const child of own) child.kill("SIGKILL")
      for (const pid of await Store.recordedPids(root, id)) killGroup(pid, "SIGKILL")
      // With a uid of its own, everything the sandbox started dies, even what left our process groups (setsid).
      const uid = (await Store.readState(root, id))?.uid
      if (uid !== undefined) await killAllOf(uid)
      await Promise.all([...own].map((child) => child.exited))
      await Store.removeSandbox(root, id, uid)
    }

    const scheduleExpiry = (state: Store.SandboxState) => {
      const previous = expiryTimers.get(state.id)
      if (previous !== undefined) clearTimeout(previous)
      if (state.expiresAt === undefined) return
      // Timers cannot wait longer than ~24.8 days; list/connect also end overdue sandboxes.
      const delay = Math.min(Math.max(0, state.expiresAt - Date.now()), 2 ** 31 - 1)
      const timer = setTimeout(() => void destroyNow(state.id).catch(() => undefined), delay)
      ;(timer as { unref?: () => void }).unref?.()
      expiryTimers.set(state.id, timer)
    }

    const isExpired = (state: Store.SandboxState) => state.expiresAt !== undefined && state.expiresAt <= Date.now()

    const toInfo = (state: Store.SandboxState): SandboxInfo => ({
      id: state.id,
      provider: PROVIDER,
      name: state.name,
      state: "running",
      labels: state.labels,
      createdAt: new Date(state.createdAt),
      expiresAt: state.expiresAt === undefined ? undefined : new Date(state.expiresAt),
      image: state.image,
      workdir: Store.workspaceDir(root, state.id),
      orphaned: !isAlive(state.ownerPid)
    })

    const notFound = (id: string) =>
      new SandboxNotFound({ provider: PROVIDER, sandboxId: id, message: `local sandbox ${id} does not exist` })

    const load = (id: string): Effect.Effect<Store.SandboxState, SandboxError> =>
      Effect.flatMap(Effect.promise(() => Store.readState(root, id)), (state) => {
        if (state === undefined) return Effect.fail(notFound(id))
        if (isExpired(state)) return Effect.promise(() => destroyNow(id).catch(() => undefined)).pipe(Effect.andThen(Effect.fail(notFound(id))))
        return Effect.succeed(state)
      })

    const handle = (initial: Store.SandboxState): DriverSandbox => {
      let state = initial
      const workspace = Store.workspaceDir(root, state.id)
      const ctx: CommandContext = {
        sandboxId: state.id,
        tier,
        workspace,
        tmp: Store.tmpDir(root, state.id),
        env: () => state.env,
        cwd: () => state.cwd,
        network: state.network,
        limits: state.limits,
        uid: state.uid,
        register: (child) => {
          if (destroyed.has(state.id)) return void child.kill("SIGKILL")
          let set = children.get(state.id)
          if (set === undefined) children.set(state.id, set = new Set())
          set.add(child)
          void Store.recordPid(root, state.id, child.pid)
          // In the namespace tiers a command's leftovers die with it; in `process` they live until destroy.
          if (tier !== "process") {
            void child.exited.then(() => {
              set.delete(child)
              void Store.forgetPid(root, state.id, child.pid)
            })
          }
        }
      }
      const alive = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.andThen(load(state.id), effect)
      // Streams check too: without it a destroyed sandbox's stream failed with FileNotFound for its missing workdir.
      const aliveStream = <A>(stream: Stream.Stream<A, SandboxError>) => Stream.unwrap(Effect.as(load(state.id), stream))
      const files = makeFiles(workspace, state.id, state.uid)
      return {
        info: toInfo(state),
        refresh: Effect.map(load(state.id), (s) => {
          state = s
          return toInfo(s)
        }),
        exec: (command, opts) => alive(exec(ctx, command, opts)),
        execStream: (command, opts) => aliveStream(execStream(ctx, command, opts)),
        spawn: (command, opts) => alive(spawnProcess(ctx, command, opts)),
        files: {
          read: (p) => alive(files.read(p)),
          write: (p, d) => alive(files.write(p, d)),
          list: (p) => alive(files.list(p)),
          mkdir: (p) => alive(files.mkdir(p)),
          remove: (p) => alive(files.remove(p)),
          stat: (p) => alive(files.stat(p)),
          upload: (d, f) => alive(files.upload!(d, f)),
          download: (d) => aliveStream(files.download!(d))
        },
        exposePort: (port) =>
          // The process tier cannot take the network away, so its ports are always reachable.
          state.network || tier === "process"
            ? Effect.succeed({ port, url: `http://127.0.0.1:${port}` })
            : Effect.fail(new InvalidRequest({
              provider: PROVIDER,
              sandboxId: state.id,
              field: "network",
              message: "this sandbox has no network, so its ports cannot be reached: create it with network: { outbound: true }"
            })),
        runCode: (code, opts) =>
          Effect.gen(function*() {
            if (opts.context !== undefined) {
              return yield* new Unsupported({
                provider: PROVIDER,
                sandboxId: state.id,
                capability: "runCode:context",
                message: "the local runCode fallback runs each snippet in a fresh interpreter; contexts need a code-interpreter provider (E2B)"
              })
            }
            const interpreter = runCodeLanguages.find((i) => i.language === opts.language)!
            const binary = interpreter.binaries.find(existsSync)!
            const result = yield* alive(exec(ctx, interpreter.argv(binary), {
              stdin: code,
              ...(opts.timeout === undefined ? {} : { timeout: opts.timeout })
            }))
            return {
              stdout: result.stdout,
              stderr: result.stderr,
              results: [],
              error: result.exitCode === 0 ? undefined : parseError(result.stderr, result.exitCode)
            }
          }),
        snapshot: Effect.flatMap(load(state.id), (current) =>
          Effect.tryPromise({
            try: async () => {
              const id = "snap-" + globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 16)
              const saved = await Store.writeSnapshot(root, id, workspace, current.id)
              return toSnapshotRef(saved)
            },
            catch: ioError("cannot snapshot the workspace")
          })),
        setTimeout: (duration) =>
          Effect.flatMap(load(state.id), (current) => {
            state = { ...current, expiresAt: Date.now() + toMillis(duration) }
            scheduleExpiry(state)
            return Effect.tryPromise({ try: () => Store.writeState(root, state), catch: ioError("cannot update the sandbox state") })
          })
      }
    }

    const create = (spec: ResolvedSpec): Effect.Effect<DriverSandbox, SandboxError> =>
      Effect.gen(function*() {
        const id = "local-" + globalThis.crypto.randomUUID().replaceAll("-", "").slice(0, 16)
        // Every command resolves the default cwd inside the workspace; one outside would make each of them fail, so
        // refuse it now, before anything exists (the workspace is fresh: no symlink can lead out of it yet).
        if (spec.cwd !== undefined) {
          const workspace = Store.workspaceDir(root, id)
          const target = isAbsolute(spec.cwd) ? resolve(spec.cwd) : resolve(workspace, spec.cwd)
          if (target !== workspace && !target.startsWith(workspace + sep)) {
            return yield* new PermissionDenied({
              provider: PROVIDER,
              message: `cwd ${JSON.stringify(spec.cwd)} is outside the sandbox workspace`
            })
          }
        }
        const now = Date.now()
        const uid = dropPrivileges
          ? yield* Effect.tryPromise({ try: () => allocateUid(root, id), catch: ioError("cannot allocate a sandbox uid") })
          : undefined
        const memoryMiB = spec.resources?.memoryMiB ?? (spec.size === undefined ? undefined : sizeMemoryMiB[spec.size])
        const limits: Limits = {
          ...defaultLimits,
          ...options.limits,
          ...(memoryMiB === undefined ? {} : { memoryMiB }),
          // Without a uid of its own, RLIMIT_NPROC would count every process of the invoking user.
          ...(uid === undefined && options.limits?.processes === undefined ? { processes: undefined } : {})
        }
        const state: Store.SandboxState = {
          id,
          name: spec.name,
          labels: { ...spec.labels },
          createdAt: now,
          expiresAt: spec.lifetime?.maxLifetime === undefined ? undefined : now + toMillis(spec.lifetime.maxLifetime),
          env: { ...spec.env },
          cwd: spec.cwd ?? ".",
          // No network unless asked for (the process tier cannot take it away, and declares itself no boundary).
          network: spec.network?.outbound ?? false,
          ownerPid: process.pid,
          uid,
          limits
        }
        if (spec.from !== undefined && (yield* Effect.promise(() => Store.readSnapshot(root, spec.from!.id))) === undefined) {
          return yield* new SandboxNotFound({
            provider: PROVIDER,
            message: `snapshot ${spec.from.id} does not exist (deleted, or taken under another root)`
          })
        }
        yield* Effect.tryPromise({
          try: async () => {
            await Store.createSandboxDirs(root, id, uid)
            if (spec.from !== undefined) await Store.restoreSnapshot(root, spec.from.id, Store.workspaceDir(root, id), uid)
            await Store.writeState(root, state)
          },
          catch: ioError("cannot create the sandbox workspace")
        }).pipe(Effect.tapError(() => Effect.promise(() => Store.removeSandbox(root, id, uid))))
        scheduleExpiry(state)
        return handle(state)
      })

    const driver: SandboxDriver = {
      name: PROVIDER,
      capabilities,
      create,
      connect: (id) =>
        Effect.map(load(id), (state) => {
          scheduleExpiry(state)
          return handle(state)
        }),
      list: (filter) =>
        Effect.promise(async () => {
          const out: Array<SandboxInfo> = []
          for (const id of await Store.listIds(root)) {
            const state = await Store.readState(root, id)
            if (state === undefined) continue
            if (isExpired(state)) {
              await destroyNow(id).catch(() => undefined)
              continue
            }
            const wanted = Object.entries(filter.labels ?? {}).every(([k, v]) => state.labels[k] === v)
            if (wanted && (filter.state === undefined || filter.state === "running")) out.push(toInfo(state))
          }
          return out.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        }),
      destroy: (id) => Effect.tryPromise({ try: () => destroyNow(id), catch: ioError(`cannot destroy ${id}`) }),
      listSnapshots: () => Effect.promise(async () => (await Store.listSnapshots(root)).map(toSnapshotRef)),
      deleteSnapshot: (id) => Effect.tryPromise({ try: () => Store.removeSnapshot(root, id), catch: ioError(`cannot delete snapshot ${id}`) })
    }
    return driver
  })

/** The local provider as a `SandboxProvider` layer. */
export const layer = (options: LocalOptions = {}): Layer.Layer<import("@sandkit/core").SandboxProvider, Unsupported | ProviderError> =>
  layerFromDriver(make(options))

/** Options from the environment: `SANDKIT_LOCAL_ROOT`, `SANDKIT_LOCAL_ISOLATION` (auto|bubblewrap|namespaces|process). */
export const layerConfig = () =>
  Layer.unwrap(Effect.gen(function*() {
    const root = yield* Config.String("SANDKIT_LOCAL_ROOT").pipe(Config.option)
    const isolation = yield* Config.Literals(["auto", "bubblewrap", "namespaces", "process"], "SANDKIT_LOCAL_ISOLATION").pipe(Config.withDefault("auto" as const))
    return layer({ ...(root._tag === "Some" ? { root: root.value } : {}), isolation })
  }))
