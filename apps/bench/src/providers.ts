/**
 * The provider registry: every provider the bench knows, whether it can run here, and how to build it.
 *
 * `local` is always there. Each cloud is listed in `cloudAdapters` below with its credential variables; the adapter
 * packages (`@sandkit/e2b`, `@sandkit/daytona`, `@sandkit/modal`, `@sandkit/runloop`) and the emulators
 * (`@sandkit/emulators/<cloud>`) plug in there as they land — see the comment on `cloudAdapters`.
 */
import type { SandboxProviderShape, SandboxSpecInput } from "@sandkit/core"
import { roundRobin, SandboxProvider } from "@sandkit/core"
import { DaytonaProvider } from "@sandkit/daytona"
import { E2bProvider } from "@sandkit/e2b"
import { DaytonaEmulator } from "@sandkit/emulators/daytona"
import { E2bEmulator } from "@sandkit/emulators/e2b"
import { ModalEmulator } from "@sandkit/emulators/modal"
import { RunloopEmulator } from "@sandkit/emulators/runloop"
import { LocalProvider } from "@sandkit/local"
import { ModalProvider } from "@sandkit/modal"
import { RunloopProvider } from "@sandkit/runloop"
import { Cause, Context, Effect, Exit, Layer, type Scope } from "effect"
import { localRawTarget } from "./baseline/localRaw.ts"
import { injectLatency } from "./latency.ts"
import { type BenchFailure, type BenchTarget, fromProvider, type TargetKind } from "./target.ts"

/** The environment the availability checks read (only whether variables are set; values are never read here). */
export type Env = Readonly<Record<string, string | undefined>>

export interface ProviderEntry {
  /** The name `--providers` takes and every output shows: `local`, `e2b`, `e2b-emulated`. */
  readonly name: string
  /** The Sandkit provider underneath (`local`, `e2b`, …). */
  readonly provider: string
  /** `emulated` numbers come from an offline emulator on this machine, never from the cloud: outputs say so. */
  readonly kind: TargetKind
  /** `true` when it can run here, else the reason (missing credentials, adapter not landed yet, …). */
  readonly available: (env: Env) => true | string
  /** The provider layer; built once per run, in the run's scope. */
  readonly layer: () => Layer.Layer<SandboxProvider, unknown>
  /** Runs only when named in `--providers` (never by default). */
  readonly onRequest?: boolean
  /** The spec every bench sandbox is created with (a cloud's smallest template, say). */
  readonly spec?: SandboxSpecInput
  /**
   * `--baseline raw`: the same operations without Sandkit (local: bare spawn; a cloud: its raw SDK against the same
   * endpoint or emulator). Leave it out when there is none yet.
   */
  readonly rawBaseline?: (context: {
    readonly provider: SandboxProviderShape
    readonly runId: string
  }) => Effect.Effect<BenchTarget, BenchFailure, Scope.Scope>
}

/** A cloud as the registry sees it: credentials, and the layers once its adapter / emulator exist. */
export interface CloudAdapter {
  readonly provider: "e2b" | "daytona" | "modal" | "runloop"
  /** Every variable that must be set for a live run. Only presence is checked; values are never printed. */
  readonly credentials: ReadonlyArray<string>
  /** The package that will provide the adapter. */
  readonly adapterPackage: string
  /** The live adapter layer, reading its credentials from the environment (`layerConfig`). */
  readonly live?: () => Layer.Layer<SandboxProvider, unknown>
  /** The same adapter pointed at `@sandkit/emulators/<cloud>`, started (scoped) inside the layer. */
  readonly emulated?: () => Layer.Layer<SandboxProvider, unknown>
  readonly spec?: SandboxSpecInput
  readonly rawBaseline?: ProviderEntry["rawBaseline"]
}

/**
 * The clouds. Each entry is the adapter live (`layerConfig()`, credentials from the environment) and the same adapter
 * pointed at its offline emulator from `@sandkit/emulators/<cloud>`, started inside the layer and stopped with it.
 * A new provider plugs in here: an entry shows up in `--providers`, runs when its credentials are set (or, emulated,
 * with `--emulate`), and every output labels emulated numbers as such. `rawBaseline` (the same operations through
 * the bare SDK) is still to come for the clouds; each adapter's `bench/overhead.ts` measures that today.
 */
export const cloudAdapters: ReadonlyArray<CloudAdapter> = [
  {
    provider: "e2b",
    credentials: ["E2B_API_KEY"],
    adapterPackage: "@sandkit/e2b",
    live: () => E2bProvider.layerConfig(),
    emulated: () =>
      Layer.unwrap(Effect.map(E2bEmulator.make({ local: emulatorEngine(), ...emulatorKey("apiKey", "E2B_API_KEY") }), (emulator) =>
        E2bProvider.layer({ ...emulator.adapterOptions, runCodeLanguages: ["python"] })))
  },
  {
    provider: "daytona",
    credentials: ["DAYTONA_API_KEY"],
    adapterPackage: "@sandkit/daytona",
    live: () => DaytonaProvider.layerConfig(),
    emulated: () =>
      Layer.unwrap(Effect.map(DaytonaEmulator.make({ local: emulatorEngine(), ...emulatorKey("apiKey", "DAYTONA_API_KEY") }), (emulator) =>
        DaytonaProvider.layer(emulator.adapterOptions)))
  },
  {
    provider: "modal",
    credentials: ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"],
    adapterPackage: "@sandkit/modal",
    live: () => ModalProvider.layerConfig(),
    emulated: () =>
      Layer.unwrap(Effect.map(
        ModalEmulator.make({
          local: emulatorEngine(),
          ...emulatorKey("tokenId", "MODAL_TOKEN_ID"),
          ...emulatorKey("tokenSecret", "MODAL_TOKEN_SECRET")
        }),
        (emulator) =>
          ModalProvider.layer(emulator.adapterOptions)
      ))
  },
  {
    provider: "runloop",
    credentials: ["RUNLOOP_API_KEY"],
    adapterPackage: "@sandkit/runloop",
    live: () => RunloopProvider.layerConfig(),
    emulated: () =>
      Layer.unwrap(Effect.map(RunloopEmulator.make({ local: emulatorEngine(), ...emulatorKey("apiKey", "RUNLOOP_API_KEY") }), (emulator) =>
        RunloopProvider.layer(emulator.adapterOptions)))
  }
]

/**
 * With the cloud's credential variable set, its emulator accepts only that value, so an emulated run sends the key
 * down the adapter's real request path (the secrets audit sets recognisable fakes). The emulator is in-process.
 */
const emulatorKey = <K extends string>(option: K, variable: string): { readonly [P in K]?: string } => {
  const value = (process.env[variable] ?? "").trim()
  return (value === "" ? {} : { [option]: value }) as { readonly [P in K]?: string }
}

/** The local engine under the emulators: same root / tier settings as the local entry. */
const emulatorEngine = (): LocalProvider.LocalOptions => {
  const root = (process.env.SANDKIT_LOCAL_ROOT ?? "").trim()
  return root === "" ? {} : { root }
}

const isSet = (env: Env, name: string) => (env[name] ?? "").length > 0

const notLanded = (adapter: CloudAdapter, what: string) => () =>
  Layer.effectDiscard(Effect.die(new Error(`${adapter.adapterPackage} ${what} is not wired into the bench yet`))) as unknown as Layer.Layer<SandboxProvider>

/** The local provider: options from `SANDKIT_LOCAL_ROOT` / `SANDKIT_LOCAL_ISOLATION`, like `LocalProvider.layerConfig`. */
export const localEntry: ProviderEntry = {
  name: "local",
  provider: "local",
  kind: "local",
  available: () => true,
  layer: () => LocalProvider.layerConfig(),
  rawBaseline: ({ provider, runId }) => localRawTarget({ tier: provider.capabilities.isolation, runId })
}

/** Every entry, live clouds and their emulated twins included (available or not). */
/**
 * One composed provider as a column of its own (`--providers composed`): `roundRobin` over every cloud's emulator
 * (core's composition, with a circuit breaker per member), so its cost over the members shows next to them.
 */
export const composedEntry = (adapters: ReadonlyArray<CloudAdapter>): ProviderEntry => ({
  name: "composed",
  provider: "composed",
  kind: "emulated",
  onRequest: true,
  available: () =>
    adapters.every((a) => a.emulated !== undefined) ? true : "needs every cloud's emulator",
  layer: () => roundRobin(adapters.flatMap((a) => a.emulated === undefined ? [] : [a.emulated()]), { name: "roundRobin(clouds)" })
})

export const registry = (adapters: ReadonlyArray<CloudAdapter> = cloudAdapters): ReadonlyArray<ProviderEntry> => [
  localEntry,
  ...adapters.map((adapter): ProviderEntry => ({
    name: adapter.provider,
    provider: adapter.provider,
    kind: "cloud",
    available: (env) => {
      const missing = adapter.credentials.filter((name) => !isSet(env, name))
      if (missing.length > 0) return `${missing.join(" and ")} not set`
      if (adapter.live === undefined) return `credentials set, but the adapter (${adapter.adapterPackage}) has not landed in the bench yet`
      return true
    },
    layer: adapter.live ?? notLanded(adapter, "adapter"),
    ...(adapter.spec === undefined ? {} : { spec: adapter.spec }),
    ...(adapter.rawBaseline === undefined ? {} : { rawBaseline: adapter.rawBaseline })
  })),
  ...adapters.map((adapter): ProviderEntry => ({
    name: `${adapter.provider}-emulated`,
    provider: adapter.provider,
    kind: "emulated",
    available: () =>
      adapter.emulated === undefined ? `not yet available (${adapter.adapterPackage} and @sandkit/emulators/${adapter.provider} have not landed in the bench)` : true,
    layer: adapter.emulated ?? notLanded(adapter, "emulator"),
    ...(adapter.spec === undefined ? {} : { spec: adapter.spec }),
    ...(adapter.rawBaseline === undefined ? {} : { rawBaseline: adapter.rawBaseline })
  })),
  composedEntry(adapters)
]

export interface Selection {
  readonly entries: ReadonlyArray<ProviderEntry>
  /** Entries that were asked for (or would be run by default) but cannot run, with the reason. */
  readonly unavailable: ReadonlyArray<{ readonly name: string; readonly kind: TargetKind; readonly reason: string }>
}

/**
 * Which entries run. No `--providers`: local, every cloud with credentials, and with `--emulate` every emulated
 * cloud. With `--providers`: those named; with `--emulate`, a cloud's name also selects its emulated twin.
 * Unknown names throw.
 */
export const selectProviders = (
  entries: ReadonlyArray<ProviderEntry>,
  options: { readonly providers: ReadonlyArray<string>; readonly emulate: boolean; readonly env: Env }
): Selection => {
  const known = new Set(entries.flatMap((e) => [e.name, e.provider]))
  const unknown = options.providers.filter((name) => !known.has(name))
  if (unknown.length > 0) {
    throw new Error(`unknown provider ${unknown.join(", ")} (known: ${entries.map((e) => e.name).join(", ")})`)
  }
  const wanted = (entry: ProviderEntry): boolean => {
    if (options.providers.length === 0) return entry.onRequest !== true && (entry.kind !== "emulated" || options.emulate)
    if (options.providers.includes(entry.name)) return true
    return entry.kind === "emulated" && options.emulate && options.providers.includes(entry.provider)
  }
  const selected: Array<ProviderEntry> = []
  const unavailable: Array<Selection["unavailable"][number]> = []
  for (const entry of entries.filter(wanted)) {
    const status = entry.available(options.env)
    if (status === true) selected.push(entry)
    else unavailable.push({ name: entry.name, kind: entry.kind, reason: status })
  }
  return { entries: selected, unavailable }
}

export const targetLabel = (name: string, kind: TargetKind, variant: BenchTarget["variant"], injectMs?: number): string => {
  const base = kind === "emulated" ? `${name} [EMULATED]` : name
  if (variant === "raw") return `${base} (raw baseline)`
  if (variant === "injected") return `${base} (+${injectMs ?? 0} ms injected)`
  return base
}

export interface BuiltTargets {
  readonly targets: ReadonlyArray<BenchTarget>
  readonly failed: ReadonlyArray<{ readonly name: string; readonly kind: TargetKind; readonly reason: string }>
  /** Things worth telling the user (e.g. no raw baseline for a provider yet). */
  readonly notes: ReadonlyArray<string>
}

/**
 * Build each selected provider (its layer lives as long as the scope) and turn it into bench targets: the provider
 * itself, its raw baseline with `baseline: "raw"`, its latency-injected twin with `injectMs`.
 */
export const buildTargets = (
  entries: ReadonlyArray<ProviderEntry>,
  options: { readonly runId: string; readonly baseline: "none" | "raw"; readonly injectMs?: number | undefined }
): Effect.Effect<BuiltTargets, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runScope = yield* Effect.scope
    const targets: Array<BenchTarget> = []
    const failed: Array<BuiltTargets["failed"][number]> = []
    const notes: Array<string> = []
    for (const entry of entries) {
      const built = yield* Effect.exit(Layer.build(entry.layer()))
      if (Exit.isFailure(built)) {
        failed.push({ name: entry.name, kind: entry.kind, reason: Cause.pretty(built.cause).split("\n")[0] ?? "failed to start" })
        continue
      }
      const provider = Context.get(built.value, SandboxProvider)
      // Emulated entries show as `e2b [EMULATED]` (their key stays `e2b-emulated`).
      const displayName = entry.kind === "emulated" ? entry.provider : entry.name
      const details: Record<string, string> = { isolation: provider.capabilities.isolation }
      targets.push(fromProvider({
        provider,
        key: entry.name,
        kind: entry.kind,
        label: targetLabel(displayName, entry.kind, "sandkit"),
        runId: options.runId,
        spec: entry.spec,
        details,
        runScope
      }))
      if (options.injectMs !== undefined) {
        targets.push(fromProvider({
          provider: injectLatency(provider, { create: `${options.injectMs} millis` }),
          key: `${entry.name}+${options.injectMs}ms`,
          kind: entry.kind,
          variant: "injected",
          label: targetLabel(displayName, entry.kind, "injected", options.injectMs),
          runId: options.runId,
          spec: entry.spec,
          details,
          checkLeaks: false
        }))
      }
      if (options.baseline === "raw") {
        if (entry.rawBaseline === undefined) {
          notes.push(`${entry.name}: no raw baseline yet`)
          continue
        }
        const raw = yield* Effect.exit(entry.rawBaseline({ provider, runId: options.runId }))
        if (Exit.isFailure(raw)) notes.push(`${entry.name}: raw baseline unavailable (${Cause.pretty(raw.cause).split("\n")[0]})`)
        else targets.push({ ...raw.value, kind: entry.kind, label: targetLabel(displayName, entry.kind, "raw"), key: `${entry.name}:raw` })
      }
    }
    return { targets, failed, notes }
  })
