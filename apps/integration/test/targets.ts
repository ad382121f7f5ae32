/**
 * Every provider as a test target: local, and each cloud's adapter over its offline emulator. A target exposes what
 * the audits need to prove "no network call, nothing created": the number of requests the emulator has received and
 * the ids its backend holds.
 */
import { makeProvider, type SandboxProviderShape } from "@sandkit/core"
import type { Faults } from "@sandkit/emulators"
import { DaytonaProvider } from "@sandkit/daytona"
import { E2bProvider } from "@sandkit/e2b"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { LocalProvider } from "@sandkit/local"
import { ModalProvider } from "@sandkit/modal"
import { RunloopProvider } from "@sandkit/runloop"
import { Effect, Redacted, type Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface Target {
  readonly name: "local" | "e2b" | "daytona" | "modal" | "runloop"
  readonly provider: SandboxProviderShape
  /** Requests the backend has received so far; always 0 for local, which has no network side. */
  readonly requests: () => number
  /** The sandbox ids the backend holds (the emulator's registry; for local, what `list()` reads from disk). */
  readonly backendIds: Effect.Effect<ReadonlyArray<string>, unknown>
  /** The emulator's request-level fault knobs and the route names of create / destroy (clouds only). */
  readonly faults?: Faults
  readonly routes?: { readonly create: string; readonly destroy: string }
}

export const targetNames = ["local", "e2b", "daytona", "modal", "runloop"] as const
export type TargetName = (typeof targetNames)[number]

/** A fresh root for a local engine, removed when the scope closes. */
const scratchRoot = (prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), prefix))),
    (root) => Effect.promise(() => rm(root, { recursive: true, force: true }).catch(() => undefined))
  )

interface AnyEmulator {
  readonly registry: { ids(): ReadonlyArray<string> }
  readonly log: { entries(): ReadonlyArray<unknown> }
  readonly faults: Faults
}

const emulated = (
  name: Target["name"],
  emulator: AnyEmulator,
  provider: SandboxProviderShape,
  routes: { readonly create: string; readonly destroy: string }
): Target => ({
  name,
  provider,
  requests: () => emulator.log.entries().length,
  backendIds: Effect.sync(() => [...emulator.registry.ids()].sort()),
  faults: emulator.faults,
  routes
})

/** Keys the emulators accept; `keys` lets a caller choose them (the secrets audit passes recognisable fakes). */
export interface TargetKeys {
  readonly e2b?: string
  readonly daytona?: string
  readonly modalId?: string
  readonly modalSecret?: string
  readonly runloop?: string
}

export interface TargetOptions {
  /** The keys the emulator accepts (default: its own). */
  readonly accept?: TargetKeys
  /** The keys the adapter sends (default: the accepted ones); a different one gets a 401. */
  readonly use?: TargetKeys
}

/** Start `name` (its emulator, for a cloud) in the current scope. */
export const makeTarget = (name: TargetName, options: TargetOptions = {}): Effect.Effect<Target, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const keys = options.accept ?? {}
    const use = options.use ?? {}
    switch (name) {
      case "local": {
        const root = yield* scratchRoot("sandkit-it-local-")
        const provider = makeProvider(yield* LocalProvider.make({ root }))
        return {
          name,
          provider,
          requests: () => 0,
          backendIds: Effect.map(provider.list(), (all) => all.map((info) => info.id).sort())
        }
      }
      case "e2b": {
        const emulator = yield* E2bEmulator.make(keys.e2b === undefined ? {} : { apiKey: keys.e2b })
        const driver = yield* E2bProvider.make({
          ...emulator.adapterOptions,
          apiKey: Redacted.make(use.e2b ?? emulator.sdkOptions.apiKey)
        })
        return emulated(name, emulator, makeProvider(driver), { create: "create", destroy: "kill" })
      }
      case "daytona": {
        const emulator = yield* DaytonaEmulator.make(keys.daytona === undefined ? {} : { apiKey: keys.daytona })
        const driver = yield* DaytonaProvider.make({
          ...emulator.adapterOptions,
          apiKey: Redacted.make(use.daytona ?? emulator.sdkOptions.apiKey)
        })
        return emulated(name, emulator, makeProvider(driver), { create: "create", destroy: "delete" })
      }
      case "modal": {
        const emulator = yield* ModalEmulator.make({
          ...(keys.modalId === undefined ? {} : { tokenId: keys.modalId }),
          ...(keys.modalSecret === undefined ? {} : { tokenSecret: keys.modalSecret })
        })
        const driver = yield* ModalProvider.make({
          ...emulator.adapterOptions,
          tokenId: Redacted.make(use.modalId ?? emulator.credentials.tokenId),
          tokenSecret: Redacted.make(use.modalSecret ?? emulator.credentials.tokenSecret)
        })
        return emulated(name, emulator, makeProvider(driver), { create: "SandboxCreateV2", destroy: "SandboxTerminateV2" })
      }
      case "runloop": {
        const emulator = yield* RunloopEmulator.make(keys.runloop === undefined ? {} : { apiKey: keys.runloop })
        const driver = yield* RunloopProvider.make({
          ...emulator.adapterOptions,
          apiKey: Redacted.make(use.runloop ?? emulator.sdkOptions.bearerToken)
        })
        return emulated(name, emulator, makeProvider(driver), { create: "create", destroy: "shutdown" })
      }
    }
  })
