/**
 * The provider registry: every provider the CLI knows, what it needs from the environment, and how to build it —
 * live (credentials from the environment, the adapter's `layerConfig`) or emulated (the adapter pointed at its offline
 * emulator from `@sandkit/emulators/<cloud>`, started inside the layer).
 *
 * `local` is always there. The cloud adapters are optional peer dependencies: each is imported only when it is used,
 * so a user installs only the adapters they need, and a missing one is reported as "adapter not installed" instead of
 * breaking the CLI. THE CLOUD ENTRIES BELOW ARE WHERE AN ADAPTER PLUGS IN (see `clouds`).
 */
import type { SandboxProviderShape } from "@sandkit/core"
import { AuthenticationFailed, isSandboxError, ProviderError, SandboxProvider } from "@sandkit/core"
// Types only: the adapters and emulators are optional peer dependencies, imported at run time when used.
import type * as DaytonaAdapter from "@sandkit/daytona"
import type * as E2bAdapter from "@sandkit/e2b"
import type * as DaytonaEmulators from "@sandkit/emulators/daytona"
import type * as E2bEmulators from "@sandkit/emulators/e2b"
import type * as ModalEmulators from "@sandkit/emulators/modal"
import type * as RunloopEmulators from "@sandkit/emulators/runloop"
import type * as ModalAdapter from "@sandkit/modal"
import type * as RunloopAdapter from "@sandkit/runloop"
import { LocalProvider } from "@sandkit/local"
import { Cause, Context, Effect, Exit, Layer, type Scope } from "effect"
import { AdapterNotInstalled, type CliFailure, InvalidConfiguration, UsageError } from "./errors.ts"

/** The environment. Only presence of the credential variables is ever checked here; values are never read. */
export type Env = Readonly<Record<string, string | undefined>>

export type ProviderLayer = Layer.Layer<SandboxProvider, unknown>

export type Mode = "live" | "emulated"

export interface EmulatorOptions {
  /** Options of the local engine that runs the emulated sandboxes (isolation tier from `SANDKIT_LOCAL_ISOLATION`). */
  readonly local: LocalProvider.LocalOptions
}

export interface ProviderEntry {
  /** The name every command takes and shows: `local`, `e2b`, `daytona`, `modal`, `runloop`. */
  readonly provider: string
  readonly kind: "local" | "cloud"
  /** Variables that must all be set for a live run. Only presence is checked; values are never printed. */
  readonly credentials: ReadonlyArray<string>
  /** Optional variables the adapter reads (endpoints, tuning), shown by `doctor` as set / not set. */
  readonly settings: ReadonlyArray<string>
  /** Where to get credentials, for hints. */
  readonly signup?: string
  /** The package providing the adapter. */
  readonly adapterPackage: string
  /** The module providing its offline emulator. */
  readonly emulatorModule?: string
  /** The live provider layer (the adapter's `layerConfig`, reading the environment). */
  readonly live: (env: Env) => Effect.Effect<ProviderLayer, AdapterNotInstalled | InvalidConfiguration>
  /** The adapter pointed at its emulator, which the layer starts (and stops when released). Absent: not wired yet. */
  readonly emulated?: ((options: EmulatorOptions) => Effect.Effect<ProviderLayer, AdapterNotInstalled>) | undefined
}

// ---------------------------------------------------------------------------------------------------------------
// Loading optional packages
// ---------------------------------------------------------------------------------------------------------------

type Module = Readonly<Record<string, unknown>>

const moduleCache = new Map<string, Promise<Module>>()

/** `import(specifier)` once per process. The specifier is a variable so bundlers leave optional packages alone. */
const importOnce = (specifier: string): Promise<Module> => {
  let loading = moduleCache.get(specifier)
  if (loading === undefined) {
    loading = import(specifier) as Promise<Module>
    moduleCache.set(specifier, loading)
  }
  return loading
}

const errorCode = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "code" in u && typeof u.code === "string" ? u.code : undefined

/** Import an optional module; a missing package is `AdapterNotInstalled` ("adapter not installed"). */
export const importOptional = (provider: string, packageName: string, specifier: string = packageName) =>
  Effect.tryPromise({
    try: () => importOnce(specifier),
    catch: (cause) => {
      const message = cause instanceof Error ? cause.message : String(cause)
      const missing = (errorCode(cause) === "ERR_MODULE_NOT_FOUND" || errorCode(cause) === "ERR_PACKAGE_PATH_NOT_EXPORTED") &&
        message.includes(packageName)
      return new AdapterNotInstalled({
        provider,
        packageName,
        reason: missing ? "missing" : "broken",
        message: missing
          ? `adapter not installed (${specifier === packageName ? packageName : specifier} cannot be found)`
          : `${specifier} could not be loaded: ${message.split("\n")[0]}`,
        cause
      })
    }
  })

/** The `layer` / `layerConfig` pair every adapter exports as `<Name>Provider` (ARCHITECTURE: the contract). */
interface AdapterNamespace {
  readonly layer: (options: never) => ProviderLayer
  readonly layerConfig: () => ProviderLayer
}

const isAdapterNamespace = (u: unknown): u is AdapterNamespace =>
  typeof u === "object" && u !== null && "layerConfig" in u && typeof u.layerConfig === "function" && "layer" in u &&
  typeof u.layer === "function"

/** Import `packageName` and take its `exportName` (`E2bProvider`), which must have `layer` and `layerConfig`. */
export const importAdapter = (provider: string, packageName: string, exportName: string) =>
  importOptional(provider, packageName).pipe(
    Effect.flatMap((mod) =>
      isAdapterNamespace(mod[exportName])
        ? Effect.succeed(mod[exportName] as AdapterNamespace)
        : Effect.fail(
          new AdapterNotInstalled({
            provider,
            packageName,
            reason: "incomplete",
            message: `adapter not installed (${packageName} does not export ${exportName}.layerConfig yet)`
          })
        )
    )
  )

/** A live entry by convention: `<exportName>.layerConfig()` reads the credentials from the environment. */
const conventionalLive = (provider: string, packageName: string, exportName: string) => () =>
  importAdapter(provider, packageName, exportName).pipe(Effect.map((adapter) => adapter.layerConfig()))

// ---------------------------------------------------------------------------------------------------------------
// The entries
// ---------------------------------------------------------------------------------------------------------------

/** The embedded local provider: `SANDKIT_LOCAL_ROOT`, `SANDKIT_LOCAL_ISOLATION`, as `LocalProvider.layerConfig` reads them. */
export const localEntry: ProviderEntry = {
  provider: "local",
  kind: "local",
  credentials: [],
  settings: ["SANDKIT_LOCAL_ROOT", "SANDKIT_LOCAL_ISOLATION"],
  adapterPackage: "@sandkit/local",
  // What `LocalProvider.layerConfig()` reads, validated here so a bad value gets a clear message.
  live: (env) =>
    Effect.map(localIsolation(env), (isolation) => {
      const root = (env.SANDKIT_LOCAL_ROOT ?? "").trim()
      return LocalProvider.layer({ ...(root === "" ? {} : { root }), isolation })
    })
}

/**
 * An `emulated` wiring: load the adapter and `@sandkit/emulators/<cloud>`, then `wire` them: start the emulator
 * inside a layer (scoped: stopped, and its sandboxes destroyed, when the layer is released) and point the adapter's
 * `layer(options)` at it.
 */
const emulatedVia = <Adapter, Emulators>(
  provider: string,
  adapterPackage: string,
  exportName: string,
  emulatorModule: string,
  wire: (adapter: Adapter, emulators: Emulators, options: EmulatorOptions) => ProviderLayer
) =>
(options: EmulatorOptions): Effect.Effect<ProviderLayer, AdapterNotInstalled> =>
  Effect.all([
    importAdapter(provider, adapterPackage, exportName),
    importOptional(provider, "@sandkit/emulators", emulatorModule)
  ]).pipe(Effect.map(([adapter, emulators]) => wire(adapter as unknown as Adapter, emulators as unknown as Emulators, options)))

/**
 * The clouds. THIS IS WHERE AN ADAPTER PLUGS IN. Each entry is `{ provider, credentials, live, emulated }`:
 *
 * - `live` finds the adapter by convention: `@sandkit/<cloud>` exporting `<Name>Provider.layerConfig()` (as the
 *   architecture asks of every adapter), which reads the credentials from the environment. A package that is not
 *   installed (or does not export that yet) shows as "adapter not installed" in `doctor` and `ls`.
 * - `emulated` starts `@sandkit/emulators/<cloud>` inside the layer and hands its URL and key to the adapter's
 *   `layer(options)` (the same options the adapter's own tests use). Leave it out while either half is missing:
 *   `--emulate` then reports "no emulator yet" for that cloud.
 *
 * Nothing else changes when an entry is filled in: the cloud shows up in `ls`, `reap`, `exec`, `shell` and `doctor`,
 * live when its credentials are set and emulated with `--emulate`.
 */
export const clouds: ReadonlyArray<ProviderEntry> = [
  {
    provider: "e2b",
    kind: "cloud",
    credentials: ["E2B_API_KEY"],
    settings: ["E2B_API_URL", "E2B_SANDBOX_URL", "E2B_DOMAIN"],
    signup: "https://e2b.dev/dashboard",
    adapterPackage: "@sandkit/e2b",
    emulatorModule: "@sandkit/emulators/e2b",
    live: conventionalLive("e2b", "@sandkit/e2b", "E2bProvider"),
    emulated: emulatedVia<typeof E2bAdapter.E2bProvider, typeof E2bEmulators>(
      "e2b",
      "@sandkit/e2b",
      "E2bProvider",
      "@sandkit/emulators/e2b",
      (E2bProvider, { E2bEmulator }, { local }) =>
        Layer.unwrap(Effect.map(E2bEmulator.make({ local }), (emulator) =>
          E2bProvider.layer(emulator.adapterOptions)))
    )
  },
  {
    provider: "daytona",
    kind: "cloud",
    credentials: ["DAYTONA_API_KEY"],
    settings: ["DAYTONA_API_URL", "DAYTONA_TARGET", "DAYTONA_DELETE_ON_CLOSE"],
    signup: "https://app.daytona.io/dashboard/keys",
    adapterPackage: "@sandkit/daytona",
    emulatorModule: "@sandkit/emulators/daytona",
    live: conventionalLive("daytona", "@sandkit/daytona", "DaytonaProvider"),
    emulated: emulatedVia<typeof DaytonaAdapter.DaytonaProvider, typeof DaytonaEmulators>(
      "daytona",
      "@sandkit/daytona",
      "DaytonaProvider",
      "@sandkit/emulators/daytona",
      (DaytonaProvider, { DaytonaEmulator }, { local }) =>
        Layer.unwrap(Effect.map(DaytonaEmulator.make({ local }), (emulator) =>
          DaytonaProvider.layer(emulator.adapterOptions)))
    )
  },
  {
    provider: "modal",
    kind: "cloud",
    credentials: ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"],
    settings: ["MODAL_ENVIRONMENT", "MODAL_SERVER_URL"],
    signup: "https://modal.com/settings/tokens",
    adapterPackage: "@sandkit/modal",
    emulatorModule: "@sandkit/emulators/modal",
    live: conventionalLive("modal", "@sandkit/modal", "ModalProvider"),
    emulated: emulatedVia<typeof ModalAdapter.ModalProvider, typeof ModalEmulators>(
      "modal",
      "@sandkit/modal",
      "ModalProvider",
      "@sandkit/emulators/modal",
      (ModalProvider, { ModalEmulator }, { local }) =>
        Layer.unwrap(Effect.map(ModalEmulator.make({ local }), (emulator) =>
          ModalProvider.layer(emulator.adapterOptions)))
    )
  },
  {
    provider: "runloop",
    kind: "cloud",
    credentials: ["RUNLOOP_API_KEY"],
    settings: ["RUNLOOP_BASE_URL"],
    signup: "https://platform.runloop.ai/settings",
    adapterPackage: "@sandkit/runloop",
    emulatorModule: "@sandkit/emulators/runloop",
    live: conventionalLive("runloop", "@sandkit/runloop", "RunloopProvider"),
    emulated: emulatedVia<typeof RunloopAdapter.RunloopProvider, typeof RunloopEmulators>(
      "runloop",
      "@sandkit/runloop",
      "RunloopProvider",
      "@sandkit/emulators/runloop",
      (RunloopProvider, { RunloopEmulator }, { local }) =>
        Layer.unwrap(Effect.map(RunloopEmulator.make({ local }), (emulator) =>
          RunloopProvider.layer(emulator.adapterOptions)))
    )
  }
]

export const registry: ReadonlyArray<ProviderEntry> = [localEntry, ...clouds]

export const providerNames = (entries: ReadonlyArray<ProviderEntry> = registry) => entries.map((e) => e.provider)

/** Every credential variable any provider reads (for redaction). */
export const allCredentialVariables = (entries: ReadonlyArray<ProviderEntry> = registry): ReadonlyArray<string> =>
  entries.flatMap((e) => e.credentials)

export const findEntry = (name: string, entries: ReadonlyArray<ProviderEntry> = registry): ProviderEntry | undefined =>
  entries.find((e) => e.provider === name)

/** The entry for a name the user typed, or a usage error listing the known ones. */
export const entryOrUsageError = (
  name: string,
  command: string,
  entries: ReadonlyArray<ProviderEntry> = registry
): Effect.Effect<ProviderEntry, UsageError> => {
  const entry = findEntry(name, entries)
  return entry !== undefined ? Effect.succeed(entry) : Effect.fail(
    new UsageError({ message: `unknown provider "${name}" (known: ${providerNames(entries).join(", ")})`, command })
  )
}

// ---------------------------------------------------------------------------------------------------------------
// Targets: an entry in a mode
// ---------------------------------------------------------------------------------------------------------------

export interface Target {
  readonly entry: ProviderEntry
  readonly mode: Mode
}

/** `e2b`, `e2b (emulated)`. */
export const targetLabel = (target: Target): string =>
  target.mode === "emulated" ? `${target.entry.provider} (emulated)` : target.entry.provider

/** Local always runs live; a cloud runs emulated when asked to. */
export const targetFor = (entry: ProviderEntry, emulate: boolean): Target => ({
  entry,
  mode: emulate && entry.kind === "cloud" ? "emulated" : "live"
})

const isSet = (env: Env, name: string) => (env[name] ?? "").length > 0

export const missingCredentials = (entry: ProviderEntry, env: Env): ReadonlyArray<string> =>
  entry.credentials.filter((name) => !isSet(env, name))

/**
 * Why a target cannot run, without loading anything: missing credentials (live) or no emulator wiring (emulated).
 * `undefined` when it may run (loading the adapter can still fail with `AdapterNotInstalled`).
 */
export const precheck = (target: Target, env: Env): CliFailure | undefined => {
  const { entry } = target
  if (target.mode === "emulated") {
    if (entry.emulated !== undefined) return undefined
    return new AdapterNotInstalled({
      provider: entry.provider,
      packageName: entry.emulatorModule ?? "@sandkit/emulators",
      reason: "no-emulator",
      message: `no offline emulator of ${entry.provider} is wired into the CLI yet (needs ${entry.adapterPackage} and ${
        entry.emulatorModule ?? "@sandkit/emulators"
      })`
    })
  }
  const missing = missingCredentials(entry, env)
  if (missing.length === 0) return undefined
  return new AuthenticationFailed({
    provider: entry.provider,
    message: `${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} not set`
  })
}

/** A short reason for listings: `E2B_API_KEY not set`, `adapter not installed (@sandkit/daytona)`. */
export const shortReason = (failure: CliFailure): string => {
  if (failure._tag === "AuthenticationFailed" && failure.message.endsWith("not set")) {
    return failure.message.replace(/ (is|are) not set$/, " not set")
  }
  if (failure._tag === "AdapterNotInstalled") {
    switch (failure.reason) {
      case "missing":
      case "incomplete":
        return `adapter not installed (${failure.packageName})`
      case "no-emulator":
        return "no emulator yet"
      case "broken":
        return failure.message
    }
  }
  return `${failure._tag}: ${failure.message}`
}

/** The isolation tier named in `SANDKIT_LOCAL_ISOLATION` (for the emulators' local engine too). */
export const localIsolation = (env: Env): Effect.Effect<"auto" | LocalProvider.Tier, InvalidConfiguration> => {
  const value = (env.SANDKIT_LOCAL_ISOLATION ?? "").trim()
  if (value === "") return Effect.succeed("auto")
  if (value === "auto" || value === "bubblewrap" || value === "namespaces" || value === "process") return Effect.succeed(value)
  return Effect.fail(
    new InvalidConfiguration({
      provider: "local",
      variables: ["SANDKIT_LOCAL_ISOLATION"],
      message: `SANDKIT_LOCAL_ISOLATION must be auto, bubblewrap, namespaces or process, not "${value}"`
    })
  )
}

const isConfigError = (u: unknown): u is { readonly _tag: "ConfigError"; readonly message: string } =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "ConfigError"

/** A layer failure as something the CLI can show. */
const setupFailure = (entry: ProviderEntry, error: unknown): CliFailure => {
  if (isSandboxError(error)) return error
  if (error instanceof AdapterNotInstalled || error instanceof InvalidConfiguration) return error
  if (isConfigError(error)) {
    return new InvalidConfiguration({
      provider: entry.provider,
      variables: [...entry.credentials, ...entry.settings],
      message: `the configuration in the environment is not usable: ${error.message}`,
      cause: error
    })
  }
  return new ProviderError({
    provider: entry.provider,
    message: `could not start the provider: ${error instanceof Error ? error.message : String(error)}`,
    cause: error
  })
}

/**
 * Build a target's provider in the current scope (released, and an emulator stopped, when the scope closes).
 * Fails with the reason it cannot run: missing credentials, adapter not installed, a bad configuration.
 */
export const buildProvider = (
  target: Target,
  env: Env
): Effect.Effect<SandboxProviderShape, CliFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const early = precheck(target, env)
    if (early !== undefined) return yield* Effect.fail(early)
    const { entry } = target
    const layer = target.mode === "emulated"
      ? yield* Effect.flatMap(localIsolation(env), (isolation) => entry.emulated!({ local: { isolation } }))
      : yield* entry.live(env)
    const built = yield* Effect.exit(Layer.build(layer))
    if (Exit.isSuccess(built)) return Context.get(built.value, SandboxProvider)
    const failure = Cause.findErrorOption(built.cause)
    if (failure._tag === "Some") return yield* Effect.fail(setupFailure(entry, failure.value))
    if (Cause.hasInterruptsOnly(built.cause)) return yield* Effect.interrupt
    // A defect while starting an adapter (a half-written one, say): show it as the provider's failure.
    return yield* Effect.fail(setupFailure(entry, Cause.squash(built.cause)))
  })

/**
 * The targets of `ls` / `reap`: the named providers (`--provider a --provider b` or `a,b`), or every provider when
 * none is named. With `emulate`, the clouds are their emulated twins.
 */
export const selectTargets = (
  names: ReadonlyArray<string>,
  options: { readonly emulate: boolean; readonly command: string },
  entries: ReadonlyArray<ProviderEntry> = registry
): Effect.Effect<{ readonly targets: ReadonlyArray<Target>; readonly explicit: boolean }, UsageError> =>
  Effect.gen(function*() {
    const wanted = [...new Set(names.flatMap((n) => n.split(",")).map((n) => n.trim()).filter((n) => n !== ""))]
    if (wanted.length === 0) return { targets: entries.map((e) => targetFor(e, options.emulate)), explicit: false }
    const chosen: Array<Target> = []
    for (const name of wanted) chosen.push(targetFor(yield* entryOrUsageError(name, options.command, entries), options.emulate))
    return { targets: chosen, explicit: true }
  })
