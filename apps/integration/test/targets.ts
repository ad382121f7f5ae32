/**
 * Every provider as a test target: local, and each cloud's adapter over its offline emulator. A target exposes what
 * the audits need to prove "no network call, nothing created": the number of requests the emulator has received and
 * the ids its backend holds.
 */
import { makeProvider, SandboxProvider, type SandboxProviderShape } from "@sandkit/core"
import type { Faults } from "@sandkit/emulators"
import { LocalProvider } from "@sandkit/local"
import { Context, Effect, Layer, type Scope } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Cloud, type CloudKeys, startEmulator } from "../src/emulatedClouds.ts"

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

/** A target's keys in the names the emulators use. */
const cloudKeys = (name: Cloud, keys: TargetKeys = {}): CloudKeys => {
  switch (name) {
    case "modal":
      return { tokenId: keys.modalId, tokenSecret: keys.modalSecret }
    default:
      return { apiKey: keys[name] }
  }
}

/** Start `name` (its emulator, for a cloud) in the current scope. */
export const makeTarget = (name: TargetName, options: TargetOptions = {}): Effect.Effect<Target, unknown, Scope.Scope> =>
  Effect.gen(function*() {
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
      default: {
        const running = yield* startEmulator(name, { accept: cloudKeys(name, options.accept) })
        const provider = yield* Effect.map(Layer.build(running.adapterLayer(cloudKeys(name, options.use))), (context) =>
          Context.get(context, SandboxProvider))
        return {
          name,
          provider,
          requests: () => running.log.entries().length,
          backendIds: Effect.sync(() => [...running.registry.ids()].sort()),
          faults: running.faults,
          routes: { create: running.createRoute, destroy: running.destroyRoute }
        }
      }
    }
  })
