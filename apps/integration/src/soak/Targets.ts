/**
 * The soak's providers: `local`, and each cloud adapter over its emulator. Every target is started once per run (an
 * emulator per cloud, each on a local engine rooted in a directory of its own, so leaked workspaces and processes can
 * be attributed to it) and reset between scenarios. A target knows which route each operation calls first, how to
 * apply a fault to it, and how many attempts per call the retry layers may make.
 */
import { SandboxProvider, type SandboxProviderShape } from "@sandkit/core"
import { DaytonaProvider } from "@sandkit/daytona"
import { E2bProvider } from "@sandkit/e2b"
import type { RequestLog } from "@sandkit/emulators"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { LocalProvider } from "@sandkit/local"
import { ModalProvider } from "@sandkit/modal"
import { RunloopProvider } from "@sandkit/runloop"
import { Context, Effect, Layer, type Scope } from "effect"
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import { MAX_RETRIES, type Operation, type ProviderName, type StepFault } from "./Scenario.ts"

/** Fault classes a retry layer may retry. */
export type TransientClass = "rateLimit" | "serverError" | "reset"

/** Which layer decides the attempts of a call; reported apart so the core schedule's bound stays visible. */
export type RetryLayer = "core" | "none" | "e2b:create-503" | "sdk:modal-create" | "sdk:modal-router"

export interface AttemptBound {
  readonly allowed: number
  readonly layer: RetryLayer
}

export interface Target {
  readonly name: ProviderName
  readonly provider: SandboxProviderShape
  /** The local engine root every sandbox of this target lives under. */
  readonly root: string
  /** The emulator's request log (undefined for local). */
  readonly log: RequestLog | undefined
  /** The route an operation calls first (undefined for local). */
  readonly routeOf: (op: Operation) => string | undefined
  /** Arm a request-level fault on `route`, or a sandbox-level knob. */
  readonly inject: (fault: StepFault, route: string | undefined) => void
  readonly setLatency: (latency: { readonly min: number; readonly max: number } | undefined) => void
  /** Forget request-level faults (latency included). */
  readonly clearFaults: () => void
  /** Forget sandbox-level knobs (quota, readiness delay). */
  readonly clearKnobs: () => void
  /** Delete a sandbox behind the client's back, now (awaited) or after `delayMs`. */
  readonly deleteSilently: (id: string, delayMs: number) => Promise<void>
  /** Sandboxes the emulator still holds (local: none; its leaks are found on disk and through `list`). */
  readonly live: () => ReadonlyArray<string>
  /** After a leak was recorded: destroy whatever is left, so one leak does not fail every later scenario. */
  readonly purge: () => Promise<void>
  /** Background work (timed deletions, state transitions) finished. */
  readonly settled: () => Promise<void>
  /** How many attempts one call of `op` on `route` may make under faults of class `cls` (first fault's `status`). */
  readonly bound: (op: Operation, route: string, cls: TransientClass, status: number) => AttemptBound
  /** Credentials the emulator accepts: they must appear in no error. */
  readonly secrets: ReadonlyArray<string>
}

/** The fake credentials the emulators accept; `apiKey` replaces them all (the secrets audit passes its own). */
export interface Credentials {
  readonly apiKey?: string | undefined
}

const ATTEMPTS = MAX_RETRIES + 1

/** What the core wrapper retries: idempotent calls both transient errors, create/exec only 429, streams nothing. */
export const coreBound = (op: Operation, cls: TransientClass): AttemptBound => {
  if (op === "execStream" || op === "spawn") return { allowed: 1, layer: "none" }
  if (op === "create" || op === "exec") return cls === "rateLimit" ? { allowed: ATTEMPTS, layer: "core" } : { allowed: 1, layer: "none" }
  return { allowed: ATTEMPTS, layer: "core" }
}

const routeTables: Record<Exclude<ProviderName, "local">, Record<Operation, string>> = {
  e2b: {
    create: "create",
    exec: "process.Start",
    execStream: "process.Start",
    spawn: "process.Start",
    writeFile: "files.write",
    readFile: "files.read",
    listFiles: "filesystem.ListDir",
    connect: "connect",
    refresh: "getInfo",
    list: "list",
    destroy: "kill"
  },
  daytona: {
    create: "create",
    exec: "session.exec",
    execStream: "session.exec",
    spawn: "session.exec",
    writeFile: "files.bulkUpload",
    readFile: "files.bulkDownload",
    listFiles: "files.list",
    connect: "get",
    refresh: "get",
    list: "list",
    destroy: "delete"
  },
  modal: {
    create: "SandboxCreateV2",
    exec: "TaskExecStart",
    execStream: "TaskExecStart",
    spawn: "TaskExecStart",
    writeFile: "TaskExecStart",
    readFile: "TaskExecStart",
    listFiles: "TaskExecStart",
    connect: "SandboxWaitV2",
    refresh: "SandboxWaitV2",
    list: "SandboxListV2",
    destroy: "SandboxTerminateV2"
  },
  runloop: {
    create: "create",
    exec: "execute",
    execStream: "execute",
    spawn: "executeAsync",
    writeFile: "files.upload",
    readFile: "files.download",
    listFiles: "execute",
    connect: "retrieve",
    refresh: "retrieve",
    list: "list",
    destroy: "shutdown"
  }
}

/** The documented exceptions to the core bound (docs/architecture.md, "SDK retries"). */
const boundFor = (name: ProviderName) => (op: Operation, route: string, cls: TransientClass, status: number): AttemptBound => {
  const core = coreBound(op, cls)
  if (name === "e2b" && op === "create" && cls === "serverError" && status === 503) {
    // E2B answers 503 "no capacity" before placing anything: the adapter re-sends it under the core schedule.
    return { allowed: ATTEMPTS, layer: "e2b:create-503" }
  }
  if (name === "modal" && route === "SandboxCreateV2" && cls !== "rateLimit") {
    // The SDK re-sends a create with one idempotency key: 1 + 3 attempts, the only layer.
    return { allowed: Math.max(core.allowed, 4), layer: "sdk:modal-create" }
  }
  if (name === "modal" && route.startsWith("TaskExec")) {
    // The command router's own retry loop (1 + 10 attempts), which the SDK offers no switch for; core adds none.
    return { allowed: Math.max(core.allowed, 11), layer: "sdk:modal-router" }
  }
  if (name === "runloop" && op === "create" && cls !== "rateLimit") {
    // Runloop's create carries an idempotency key, so the driver retries a lost answer under the core schedule.
    return { allowed: ATTEMPTS, layer: "core" }
  }
  return core
}

const provide = (layer: Layer.Layer<SandboxProvider, unknown>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, SandboxProvider))

/** Request-level faults through the framework's `Faults` (shared by the four emulators). */
interface FaultKnobs {
  readonly failNext: (route: string, failure: { status: number; times?: number; retryAfter?: number | string; message?: string; headers?: Record<string, string> }) => unknown
  readonly rateLimitNext: (route: string, options: { times?: number; retryAfter?: number | string }) => unknown
  readonly resetNext: (route: string, options: { times?: number; midStream?: boolean; afterMs?: number }) => unknown
  readonly latency: (route: string, latency: { uniform: readonly [number, number] } | undefined) => unknown
  readonly clear: () => unknown
}

const injectRequest = (faults: FaultKnobs, fault: StepFault, route: string): void => {
  switch (fault._tag) {
    case "rateLimit":
      faults.rateLimitNext(route, { times: fault.times, ...(fault.retryAfterSec === undefined ? {} : { retryAfter: fault.retryAfterSec }) })
      return
    case "serverError":
      faults.failNext(route, { status: fault.status, times: fault.times, message: "soak: injected server error" })
      return
    case "reset":
      faults.resetNext(route, { times: fault.times, midStream: fault.midStream, afterMs: 0 })
      return
    case "permanent":
      faults.failNext(route, { status: fault.status, message: "soak: injected permanent refusal" })
      return
  }
}

interface EmulatorParts {
  readonly name: Exclude<ProviderName, "local">
  readonly provider: SandboxProviderShape
  readonly root: string
  readonly log: RequestLog
  readonly faults: FaultKnobs
  readonly registry: {
    readonly ids: () => ReadonlyArray<string>
    readonly setQuota: (max: number | undefined) => unknown
    readonly setReadinessDelay: (ms: number) => unknown
    readonly clearKnobs: () => unknown
    readonly deleteNow: (id: string) => Promise<boolean>
    readonly deleteAfter: (id: string, ms: number) => boolean
    readonly destroy: (id: string) => Promise<boolean>
  }
  readonly quota?: (max: number | undefined) => void
  readonly slowStart?: (ms: number) => void
  readonly settled?: () => Promise<void>
  readonly secrets: ReadonlyArray<string>
  /** How a 429 is armed when the emulator's own helper says it better (Modal's throttling carries its hint in gRPC). */
  readonly rateLimit?: (route: string, fault: Extract<StepFault, { _tag: "rateLimit" }>) => void
}

const fromEmulator = (parts: EmulatorParts): Target => {
  const timers = new Set<Promise<unknown>>()
  return {
    name: parts.name,
    provider: parts.provider,
    root: parts.root,
    log: parts.log,
    routeOf: (op) => routeTables[parts.name][op],
    inject: (fault, route) => {
      if (fault._tag === "quota") return void (parts.quota ?? ((max) => parts.registry.setQuota(max)))(0)
      if (fault._tag === "slowReadiness") return void (parts.slowStart ?? ((ms) => parts.registry.setReadinessDelay(ms)))(fault.delayMs)
      if (fault._tag === "silentDeletion" || route === undefined) return
      if (fault._tag === "rateLimit" && parts.rateLimit !== undefined) return parts.rateLimit(route, fault)
      injectRequest(parts.faults, fault, route)
    },
    setLatency: (latency) => void parts.faults.latency("*", latency === undefined ? undefined : { uniform: [latency.min, latency.max] }),
    clearFaults: () => void parts.faults.clear(),
    clearKnobs: () => {
      parts.registry.clearKnobs()
      parts.quota?.(undefined)
      parts.slowStart?.(0)
    },
    deleteSilently: async (id, delayMs) => {
      if (delayMs <= 0) return void (await parts.registry.deleteNow(id))
      parts.registry.deleteAfter(id, delayMs)
      // The registry's timer does the deletion; settle waits it out.
      const done = new Promise((resolve) => setTimeout(resolve, delayMs + 5))
      timers.add(done)
      void done.then(() => timers.delete(done))
    },
    live: () => parts.registry.ids(),
    purge: async () => void (await Promise.all(parts.registry.ids().map((id) => parts.registry.destroy(id)))),
    settled: async () => {
      await Promise.all([...timers])
      await parts.settled?.()
    },
    bound: boundFor(parts.name),
    secrets: parts.secrets
  }
}

const makeLocal = (root: string): Effect.Effect<Target, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const provider = yield* provide(LocalProvider.layer({ root }))
    const pending = new Set<Promise<unknown>>()
    return {
      name: "local",
      provider,
      root,
      log: undefined,
      routeOf: () => undefined,
      inject: () => {},
      setLatency: () => {},
      clearFaults: () => {},
      clearKnobs: () => {},
      deleteSilently: (id, delayMs) => {
        // "Another client" destroys it: a second handle on the same root, through the public API.
        const run = (async () => {
          if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
          await Effect.runPromise(Effect.ignore(provider.destroy(id)))
        })()
        pending.add(run)
        void run.finally(() => pending.delete(run))
        return delayMs > 0 ? Promise.resolve() : run
      },
      live: () => [],
      purge: () =>
        Effect.runPromise(Effect.ignore(Effect.flatMap(provider.list(), (infos) => Effect.forEach(infos, (info) => provider.destroy(info.id))))),
      settled: async () => void (await Promise.all([...pending])),
      bound: (op, _route, cls) => coreBound(op, cls),
      secrets: []
    } satisfies Target
  })

const makeE2b = (root: string, credentials: Credentials) =>
  Effect.gen(function*() {
    const emulator = yield* E2bEmulator.make({ local: { root }, ...(credentials.apiKey === undefined ? {} : { apiKey: credentials.apiKey }) })
    const provider = yield* provide(E2bProvider.layer(emulator.adapterOptions))
    return fromEmulator({
      name: "e2b",
      provider,
      root,
      log: emulator.log,
      faults: emulator.faults,
      registry: emulator.registry,
      secrets: [emulator.sdkOptions.apiKey]
    })
  })

const makeDaytona = (root: string, credentials: Credentials) =>
  Effect.gen(function*() {
    const emulator = yield* DaytonaEmulator.make({ local: { root }, ...(credentials.apiKey === undefined ? {} : { apiKey: credentials.apiKey }) })
    const provider = yield* provide(DaytonaProvider.layer(emulator.adapterOptions))
    return fromEmulator({
      name: "daytona",
      provider,
      root,
      log: emulator.log,
      faults: emulator.faults,
      registry: emulator.registry,
      quota: (max) => emulator.setQuota(max),
      slowStart: (ms) => emulator.setStartDelay(ms),
      settled: () => emulator.settled(),
      secrets: [emulator.sdkOptions.apiKey]
    })
  })

const makeModal = (root: string, credentials: Credentials) =>
  Effect.gen(function*() {
    const emulator = yield* ModalEmulator.make({
      local: { root, isolation: "process" },
      ...(credentials.apiKey === undefined ? {} : { tokenId: `ak-${credentials.apiKey}`, tokenSecret: credentials.apiKey })
    })
    const provider = yield* provide(ModalProvider.layer(emulator.adapterOptions))
    const grpc = ModalEmulator.grpcFaults(emulator.faults)
    return fromEmulator({
      name: "modal",
      provider,
      root,
      log: emulator.log,
      faults: emulator.faults,
      registry: emulator.registry,
      // With a hint, Modal's throttling (RESOURCE_EXHAUSTED + RPCRetryPolicy); without, a bare 429 "Rate limit exceeded".
      rateLimit: (route, fault) =>
        void (fault.retryAfterSec === undefined
          ? emulator.faults.rateLimitNext(route, { times: fault.times })
          : grpc.throttleNext(route, fault.retryAfterSec, fault.times)),
      secrets: [emulator.credentials.tokenSecret]
    })
  })

const makeRunloop = (root: string, credentials: Credentials) =>
  Effect.gen(function*() {
    const emulator = yield* RunloopEmulator.make({
      local: { root },
      // Long polls are answered at once when the state is reached; a short hold keeps an interrupted wait brief.
      longPollMs: 2_000,
      ...(credentials.apiKey === undefined ? {} : { apiKey: credentials.apiKey })
    })
    const provider = yield* provide(RunloopProvider.layer(emulator.adapterOptions))
    return fromEmulator({
      name: "runloop",
      provider,
      root,
      log: emulator.log,
      faults: emulator.faults,
      registry: emulator.registry,
      secrets: [emulator.sdkOptions.bearerToken]
    })
  })

/** Start the named targets in the current scope, each under `<base>/<name>`. */
export const makeTargets = (
  base: string,
  names: ReadonlyArray<ProviderName>,
  credentials: Credentials = {}
): Effect.Effect<ReadonlyMap<ProviderName, Target>, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const out = new Map<ProviderName, Target>()
    for (const name of names) {
      const root = join(base, name)
      yield* Effect.promise(() => mkdir(root, { recursive: true }))
      const target: Target = yield* (
        name === "local"
          ? makeLocal(root)
          : name === "e2b"
          ? makeE2b(root, credentials)
          : name === "daytona"
          ? makeDaytona(root, credentials)
          : name === "modal"
          ? makeModal(root, credentials)
          : makeRunloop(root, credentials)
      )
      out.set(name, target)
    }
    return out
  })
