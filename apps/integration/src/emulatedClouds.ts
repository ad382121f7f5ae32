/**
 * The four emulated clouds behind one shape, for checks that run the same scenario on each: start an emulator, read
 * its registry and request log, and build the Sandkit adapter over it — in this process, or in another one from plain
 * strings (`connection`), which is how a child process reaches an emulator that must outlive it.
 */
import type { SandboxError, SandboxProvider } from "@sandkit/core"
import { DaytonaProvider } from "@sandkit/daytona"
import { E2bProvider } from "@sandkit/e2b"
import type { Faults, FailureSpec, RemovalReason, RequestLog } from "@sandkit/emulators"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import type { LocalProvider } from "@sandkit/local"
import { ModalProvider } from "@sandkit/modal"
import { RunloopProvider } from "@sandkit/runloop"
import { Effect, type Layer, Redacted, type Scope } from "effect"

export const CLOUDS = ["e2b", "daytona", "modal", "runloop"] as const
export type Cloud = (typeof CLOUDS)[number]

export const isCloud = (name: string): name is Cloud => (CLOUDS as ReadonlyArray<string>).includes(name)

/** What these checks read and set on an emulator's registry, whatever the cloud's own per-sandbox state. */
export interface RegistryView {
  readonly size: number
  readonly peak: number
  resetPeak(): unknown
  ids(): ReadonlyArray<string>
  list(): ReadonlyArray<{ readonly id: string; readonly metadata: Readonly<Record<string, string>> }>
  setQuota(maxConcurrent: number | undefined, failure?: Partial<FailureSpec>): unknown
  readonly removals: ReadonlyArray<{ readonly id: string; readonly reason: RemovalReason }>
}

export interface RunningEmulator {
  readonly cloud: Cloud
  readonly registry: RegistryView
  readonly faults: Faults
  readonly log: RequestLog
  /** The route (or gRPC method) name of a create in the request log and the fault knobs. */
  readonly createRoute: string
  /** The route (or gRPC method) name of a destroy. */
  readonly destroyRoute: string
  /** Plain strings that reach this emulator, keys included: whoever builds a provider from them wraps the keys. */
  readonly connection: Readonly<Record<string, string>>
  /**
   * The adapter over this emulator, in this process, from the emulator's `adapterOptions` (everything it serves,
   * ports and code included); `use` replaces the credentials it sends (a wrong one is answered 401).
   */
  readonly adapterLayer: (use?: CloudKeys) => Layer.Layer<SandboxProvider, SandboxError>
}

/** Credentials, in the names the emulators use: `apiKey` (E2B, Daytona, Runloop), `tokenId` + `tokenSecret` (Modal). */
export interface CloudKeys {
  readonly apiKey?: string | undefined
  readonly tokenId?: string | undefined
  readonly tokenSecret?: string | undefined
}

export interface EmulatorOptions {
  /** Options of the emulator's local engine (where the emulated sandboxes' commands run). */
  readonly local?: LocalProvider.LocalOptions
  /** The credentials the emulator accepts (default: its own). */
  readonly accept?: CloudKeys
}

/** `fields` without its undefined ones (the emulators' options are exact: a key is absent or a string). */
const defined = <A extends object>(fields: A): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as { [K in keyof A]?: Exclude<A[K], undefined> }

/** The `use` keys that are set, `Redacted`, for an adapter's options. */
const redactedKeys = (use: CloudKeys = {}) =>
  Object.fromEntries(Object.entries(defined(use)).map(([name, value]) => [name, Redacted.make(value as string)]))

/** Start `cloud`'s emulator in the current scope; closing the scope stops it and destroys what it still holds. */
export const startEmulator = (
  cloud: Cloud,
  options: EmulatorOptions = {}
): Effect.Effect<RunningEmulator, SandboxError, Scope.Scope> => {
  const local = options.local === undefined ? {} : { local: options.local }
  const accept = defined(options.accept ?? {})
  switch (cloud) {
    case "e2b":
      return Effect.map(E2bEmulator.make({ ...local, ...defined({ apiKey: accept.apiKey }) }), (emulator) => ({
        cloud,
        registry: emulator.registry,
        faults: emulator.faults,
        log: emulator.log,
        createRoute: "create",
        destroyRoute: "kill",
        adapterLayer: (use) => E2bProvider.layer({ ...emulator.adapterOptions, ...redactedKeys(use) }),
        connection: {
          apiKey: Redacted.value(emulator.adapterOptions.apiKey),
          apiUrl: emulator.adapterOptions.apiUrl,
          sandboxUrl: emulator.adapterOptions.sandboxUrl
        }
      }))
    case "daytona":
      return Effect.map(DaytonaEmulator.make({ ...local, ...defined({ apiKey: accept.apiKey }) }), (emulator) => ({
        cloud,
        registry: emulator.registry,
        faults: emulator.faults,
        log: emulator.log,
        createRoute: "create",
        destroyRoute: "delete",
        adapterLayer: (use) => DaytonaProvider.layer({ ...emulator.adapterOptions, ...redactedKeys(use) }),
        connection: { ...emulator.sdkOptions }
      }))
    case "modal":
      return Effect.map(ModalEmulator.make({ ...local, ...defined({ tokenId: accept.tokenId, tokenSecret: accept.tokenSecret }) }), (emulator) => ({
        cloud,
        registry: emulator.registry,
        faults: emulator.faults,
        log: emulator.log,
        createRoute: "SandboxCreateV2",
        destroyRoute: "SandboxTerminateV2",
        adapterLayer: (use) => ModalProvider.layer({ ...emulator.adapterOptions, ...redactedKeys(use) }),
        connection: { ...emulator.credentials, serverUrl: emulator.serverUrl }
      }))
    case "runloop":
      return Effect.map(RunloopEmulator.make({ ...local, ...defined({ apiKey: accept.apiKey }) }), (emulator) => ({
        cloud,
        registry: emulator.registry,
        faults: emulator.faults,
        log: emulator.log,
        createRoute: "create",
        destroyRoute: "shutdown",
        adapterLayer: (use) => RunloopProvider.layer({ ...emulator.adapterOptions, ...redactedKeys(use) }),
        connection: { apiKey: emulator.sdkOptions.bearerToken, baseUrl: emulator.url }
      }))
  }
}

const field = (connection: Readonly<Record<string, string>>, name: string): string => {
  const value = connection[name]
  if (value === undefined) throw new Error(`the connection has no ${name}`)
  return value
}

/** The Sandkit adapter for `cloud`, pointed at the emulator `connection` describes; keys become `Redacted` here. */
export const providerLayer = (
  cloud: Cloud,
  connection: Readonly<Record<string, string>>
): Layer.Layer<SandboxProvider, SandboxError> => {
  const secret = (name: string) => Redacted.make(field(connection, name))
  switch (cloud) {
    case "e2b":
      return E2bProvider.layer({
        apiKey: secret("apiKey"),
        apiUrl: field(connection, "apiUrl"),
        sandboxUrl: field(connection, "sandboxUrl")
      })
    case "daytona":
      return DaytonaProvider.layer({ apiKey: secret("apiKey"), apiUrl: field(connection, "apiUrl"), target: field(connection, "target") })
    case "modal":
      return ModalProvider.layer({ tokenId: secret("tokenId"), tokenSecret: secret("tokenSecret"), serverUrl: field(connection, "serverUrl") })
    case "runloop":
      return RunloopProvider.layer({ apiKey: secret("apiKey"), baseUrl: field(connection, "baseUrl") })
  }
}
