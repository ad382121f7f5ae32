/**
 * `sandkit doctor`: what is set up here. Which providers are configured (credential variables present or not —
 * never their values), whether each adapter and emulator is installed, which local isolation tier is active and why
 * the better ones were skipped, and the versions of the runtime and the packages.
 */
import { SandboxProvider } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Context, Effect, Layer } from "effect"
import { Command, Flag } from "effect/cli"
import { handler, type RunContext } from "../cli.ts"
import { type CliFailure, ExitCodes, headline } from "../errors.ts"
import { plural, table } from "../format.ts"
import { stdout } from "../io.ts"
import {
  buildProvider,
  clouds,
  importOptional,
  localIsolation,
  missingCredentials,
  type ProviderEntry,
  shortReason
} from "../providers.ts"
import { cliVersion, corePackages, packageVersion, runtimeInfo } from "../versions.ts"

const TIERS = ["bubblewrap", "namespaces", "process"] as const

export interface TierReport {
  readonly tier: (typeof TIERS)[number]
  readonly works: boolean
  readonly reason?: string | undefined
}

export interface LocalReport {
  readonly ok: boolean
  readonly root: string
  /** `auto`, or the tier `SANDKIT_LOCAL_ISOLATION` forces. */
  readonly requested: string
  readonly isolation?: string | undefined
  readonly sandboxes?: number | undefined
  /** The tiers better than the active one (all of them when one is forced), and why each was not used. */
  readonly tiers: ReadonlyArray<TierReport>
  readonly error?: string | undefined
}

export interface CloudReport {
  readonly provider: string
  readonly adapter: { readonly package: string; readonly installed: boolean; readonly version?: string | undefined; readonly reason?: string | undefined }
  readonly credentials: ReadonlyArray<{ readonly name: string; readonly set: boolean }>
  readonly settings: ReadonlyArray<{ readonly name: string; readonly set: boolean }>
  readonly live: { readonly ready: boolean; readonly reason?: string | undefined }
  readonly emulator: { readonly available: boolean; readonly module?: string | undefined; readonly reason?: string | undefined }
  /** With `--check`: the outcome of listing the sandboxes (live when configured, else emulated when available). */
  readonly check?: { readonly mode: "live" | "emulated"; readonly ok: boolean; readonly detail: string } | undefined
}

const stripProbe = (message: string) => message.replace(/^the \w+ isolation tier does not work here: /, "")

const localProvider = (root: string, isolation: "auto" | LocalProvider.Tier) =>
  Layer.build(LocalProvider.layer({ root, isolation })).pipe(Effect.map((context) => Context.get(context, SandboxProvider)))

const diagnoseLocal = (context: RunContext): Effect.Effect<LocalReport> =>
  Effect.gen(function*() {
    const rootSetting = (context.env.SANDKIT_LOCAL_ROOT ?? "").trim()
    const root = rootSetting === "" ? LocalProvider.defaultRoot() : rootSetting
    const requested = yield* Effect.result(localIsolation(context.env))
    if (requested._tag === "Failure") {
      return { ok: false, root, requested: context.env.SANDKIT_LOCAL_ISOLATION ?? "", tiers: [], error: requested.failure.message }
    }
    const probe = (tier: (typeof TIERS)[number]) =>
      Effect.scoped(localProvider(root, tier)).pipe(
        Effect.as<TierReport>({ tier, works: true }),
        Effect.catch((e) => Effect.succeed<TierReport>({ tier, works: false, reason: stripProbe(e.message) }))
      )
    const active = yield* Effect.scoped(Effect.gen(function*() {
      const provider = yield* localProvider(root, requested.success)
      const sandboxes = yield* provider.list().pipe(Effect.map((l) => l.length), Effect.orElseSucceed(() => undefined))
      return { isolation: provider.capabilities.isolation, sandboxes }
    })).pipe(Effect.result)
    if (active._tag === "Failure") {
      return {
        ok: false,
        root,
        requested: requested.success,
        tiers: yield* Effect.forEach(TIERS, probe),
        error: stripProbe(active.failure.message)
      }
    }
    const index = TIERS.indexOf(active.success.isolation as (typeof TIERS)[number])
    const others = requested.success === "auto" ? TIERS.slice(0, Math.max(0, index)) : TIERS.filter((t) => t !== active.success.isolation)
    return {
      ok: true,
      root,
      requested: requested.success,
      isolation: active.success.isolation,
      sandboxes: active.success.sandboxes,
      tiers: yield* Effect.forEach(others, probe)
    }
  })

const diagnoseCloud = (entry: ProviderEntry, context: RunContext, check: boolean): Effect.Effect<CloudReport> =>
  Effect.gen(function*() {
    // Loading the adapter (and taking its `<Name>Provider.layerConfig`) builds nothing and calls nobody.
    const loaded = yield* Effect.result(entry.live(context.env))
    const installed = loaded._tag === "Success"
    const missing = missingCredentials(entry, context.env)
    const emulator = entry.emulated === undefined
      ? { available: false, reason: "not wired into the CLI yet" }
      : yield* Effect.all([entry.live(context.env), importOptional(entry.provider, "@sandkit/emulators", entry.emulatorModule)]).pipe(
        Effect.as({ available: true as boolean, reason: undefined as string | undefined }),
        Effect.catch((e) => Effect.succeed({ available: false, reason: shortReason(e) }))
      )
    const liveStatus = loaded._tag === "Failure"
      ? { ready: false, reason: shortReason(loaded.failure) }
      : missing.length > 0
      ? { ready: false, reason: "not configured" }
      : { ready: true }
    let checked: CloudReport["check"]
    if (check && (liveStatus.ready || emulator.available)) {
      const mode = liveStatus.ready ? "live" as const : "emulated" as const
      checked = yield* Effect.scoped(
        buildProvider({ entry, mode }, context.env).pipe(Effect.flatMap((provider) => provider.list()))
      ).pipe(
        Effect.map((list) => ({ mode, ok: true, detail: `listed ${plural(list.length, "sandbox")}` })),
        Effect.catch((failure: CliFailure) => Effect.succeed({ mode, ok: false, detail: context.redact(headline(failure)) }))
      )
    }
    return {
      provider: entry.provider,
      adapter: {
        package: entry.adapterPackage,
        installed,
        version: installed ? packageVersion(entry.adapterPackage) : undefined,
        reason: installed ? undefined : liveStatus.reason
      },
      credentials: entry.credentials.map((name) => ({ name, set: (context.env[name] ?? "") !== "" })),
      settings: entry.settings.map((name) => ({ name, set: (context.env[name] ?? "") !== "" })),
      live: liveStatus,
      emulator: { ...emulator, module: entry.emulatorModule },
      check: checked
    }
  })

const yesNo = (set: boolean) => (set ? "set (value hidden)" : "not set")

/** The text report (exported for tests). */
export const renderDoctor = (report: DoctorReport): string => {
  const out: Array<string> = []
  const { local, runtime } = report
  out.push(`sandkit ${report.cli} on ${runtime.name} ${runtime.version} (${runtime.platform} ${runtime.arch})`, "")

  out.push(`Local sandbox (@sandkit/local ${report.packages["@sandkit/local"] ?? "?"})`)
  if (local.ok) {
    const forced = local.requested === "auto" ? "best tier that works here" : `forced by SANDKIT_LOCAL_ISOLATION=${local.requested}`
    out.push(`  isolation  ${local.isolation} (${forced})`)
  } else {
    out.push(`  isolation  NOT USABLE: ${local.error}`)
  }
  out.push(`  root       ${local.root}${local.sandboxes === undefined ? "" : ` (${plural(local.sandboxes, "sandbox")})`}`)
  for (const tier of local.tiers) {
    out.push(`  ${tier.tier.padEnd(10)} ${tier.works ? "works (not used)" : `skipped: ${tier.reason}`}`)
  }
  if (local.isolation === "process") {
    const bwrapMissing = local.tiers.some((t) => t.tier === "bubblewrap" && !t.works)
    out.push(
      `  note       the process tier is not a security boundary${bwrapMissing ? "; installing bubblewrap (apt-get install bubblewrap) gives the best tier" : ""}`
    )
  }
  out.push("")

  out.push("Clouds")
  out.push(
    table(
      ["PROVIDER", "ADAPTER", "CREDENTIALS", "LIVE", "EMULATED (--emulate)"],
      report.clouds.map((c) => [
        c.provider,
        c.adapter.installed ? `${c.adapter.package} ${c.adapter.version ?? ""}`.trim() : `not installed (${c.adapter.package})`,
        c.credentials.map((v) => `${v.name} ${yesNo(v.set)}`).join(", "),
        c.live.ready ? "configured" : c.live.reason ?? "not configured",
        c.emulator.available ? "available" : c.emulator.reason ?? "not available"
      ])
    ).trimEnd().split("\n").map((line) => `  ${line}`).join("\n")
  )
  const settings = report.clouds.flatMap((c) => c.settings.filter((s) => s.set).map((s) => s.name))
  if (settings.length > 0) out.push(`  also set: ${settings.join(", ")}`)
  const checks = report.clouds.filter((c) => c.check !== undefined)
  for (const c of checks) out.push(`  check ${c.provider} (${c.check!.mode}): ${c.check!.ok ? "ok, " : "FAILED: "}${c.check!.detail}`)
  out.push("")

  out.push("Versions")
  out.push(
    table(
      ["PACKAGE", "VERSION"],
      [["@sandkit/cli", report.cli], ...Object.entries(report.packages).map(([name, v]) => [name, v ?? "not found"])]
    ).trimEnd().split("\n").map((line) => `  ${line}`).join("\n")
  )
  return out.join("\n") + "\n"
}

export interface DoctorReport {
  readonly cli: string
  readonly runtime: ReturnType<typeof runtimeInfo>
  readonly local: LocalReport
  readonly clouds: ReadonlyArray<CloudReport>
  readonly packages: Readonly<Record<string, string | undefined>>
}

export const doctor = Command.make(
  "doctor",
  {
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print the report as JSON"), Flag.withDefault(false)),
    check: Flag.Boolean("check").pipe(
      Flag.withDescription("Also list the sandboxes of every configured cloud (or its emulator) to prove the setup works"),
      Flag.withDefault(false)
    )
  },
  handler("doctor", ({ check, json }, context) =>
    Effect.gen(function*() {
      const [local, cloudReports] = yield* Effect.all([
        diagnoseLocal(context),
        Effect.forEach(clouds, (entry) => diagnoseCloud(entry, context, check), { concurrency: "unbounded" })
      ], { concurrency: "unbounded" })
      const report: DoctorReport = {
        cli: cliVersion(),
        runtime: runtimeInfo(),
        local,
        clouds: cloudReports,
        packages: Object.fromEntries(corePackages.map((name) => [name, packageVersion(name)]))
      }
      yield* stdout(json ? JSON.stringify(report, null, 2) + "\n" : renderDoctor(report))
      const failedCheck = cloudReports.some((c) => c.check !== undefined && !c.check.ok)
      return local.ok && !failedCheck ? ExitCodes.ok : ExitCodes.failure
    }))
).pipe(
  Command.withShortDescription("What is configured: providers, credentials (never values), local isolation, versions"),
  Command.withDescription(
    "Show what is set up: each provider's adapter and credentials (variables set or not; values are never shown), " +
      "its emulator, the local isolation tier and why better tiers were skipped, and versions. Exit 1 if the local " +
      "sandbox cannot run or a --check failed."
  ),
  Command.withExamples([
    { command: "sandkit doctor", description: "The report" },
    { command: "sandkit doctor --check --json", description: "Also prove each configured cloud answers; as JSON" }
  ])
)
