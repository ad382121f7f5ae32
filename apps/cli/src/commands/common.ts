/**
 * What several commands share: opening the providers of `ls` / `reap`, and the sandbox flags of `exec` / `shell`.
 */
import type { SandboxProviderShape, SandboxSpecInput } from "@sandkit/core"
import { Effect, Option, type Scope } from "effect"
import { Flag } from "effect/cli"
import { optionalRecord, type RunContext } from "../cli.ts"
import type { CliFailure } from "../errors.ts"
import { parseDuration } from "../format.ts"
import { buildProvider, precheck, shortReason, type Target, targetLabel } from "../providers.ts"

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** A duration flag (`30s`, `2h`, `1h30m`) parsed to milliseconds; a bad value is a usage error. */
export const durationFlag = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(description),
    Flag.withMetavar("duration"),
    Flag.mapTryCatch(parseDuration, errorMessage),
    Flag.optional
  )

export const providerFlag = Flag.String("provider").pipe(
  Flag.withAlias("p"),
  Flag.withMetavar("name"),
  Flag.withDescription("Only this provider (repeat or comma-separate for several): local, e2b, daytona, modal, runloop"),
  Flag.atLeast(0)
)

export const labelFilterFlag = Flag.KeyValuePair("label").pipe(
  Flag.withAlias("l"),
  Flag.withDescription("Only sandboxes with this label (repeatable; all must match), e.g. --label sandkit.run=r1a2b3c4d5e6f"),
  Flag.optional
)

export type Opened =
  | { readonly _tag: "Ready"; readonly target: Target; readonly label: string; readonly provider: SandboxProviderShape }
  | { readonly _tag: "Skipped"; readonly target: Target; readonly label: string; readonly reason: string }
  | { readonly _tag: "Failed"; readonly target: Target; readonly label: string; readonly failure: CliFailure }

/**
 * Build every target's provider in the current scope. When the user named the providers, anything that keeps one
 * from running is a failure; otherwise a provider that is simply not set up here (no credentials, adapter not
 * installed, no emulator yet) is skipped with the reason.
 */
export const openTargets = (
  targets: ReadonlyArray<Target>,
  explicit: boolean,
  context: RunContext
): Effect.Effect<ReadonlyArray<Opened>, never, Scope.Scope> =>
  Effect.forEach(targets, (target): Effect.Effect<Opened, never, Scope.Scope> => {
    const label = targetLabel(target)
    const early = precheck(target, context.env)
    if (early !== undefined && !explicit) return Effect.succeed({ _tag: "Skipped", target, label, reason: shortReason(early) })
    return buildProvider(target, context.env).pipe(
      Effect.map((provider): Opened => ({ _tag: "Ready", target, label, provider })),
      Effect.catch((failure): Effect.Effect<Opened> =>
        Effect.succeed(
          !explicit && failure._tag === "AdapterNotInstalled"
            ? { _tag: "Skipped", target, label, reason: shortReason(failure) }
            : { _tag: "Failed", target, label, failure }
        )
      )
    )
  }, { concurrency: "unbounded" })

/** `not listed: e2b: E2B_API_KEY not set; daytona: adapter not installed (@sandkit/daytona)`. */
export const skippedNote = (verb: string, opened: ReadonlyArray<Opened>): string | undefined => {
  const skipped = opened.flatMap((o) => (o._tag === "Skipped" ? [`${o.label}: ${o.reason}`] : []))
  return skipped.length === 0 ? undefined : `${verb}: ${skipped.join("; ")}\n`
}

// ---------------------------------------------------------------------------------------------------------------
// exec / shell
// ---------------------------------------------------------------------------------------------------------------

export const sandboxFlags = {
  image: Flag.String("image").pipe(
    Flag.withMetavar("image"),
    Flag.withDescription("Container image, where the provider takes one (Daytona, Modal, Runloop)"),
    Flag.optional
  ),
  template: Flag.String("template").pipe(
    Flag.withMetavar("name"),
    Flag.withDescription("Provider-side template / blueprint / snapshot name (E2B: template, default code-interpreter-v1)"),
    Flag.optional
  ),
  env: Flag.KeyValuePair("env").pipe(
    Flag.withAlias("e"),
    Flag.withDescription("Environment variable for the sandbox (repeatable): --env KEY=VALUE"),
    Flag.optional
  ),
  label: Flag.KeyValuePair("label").pipe(
    Flag.withAlias("l"),
    Flag.withDescription("Label the sandbox (repeatable): --label task=demo (sandkit.owner and sandkit.run are added)"),
    Flag.optional
  ),
  lifetime: durationFlag(
    "lifetime",
    "The provider ends the sandbox after this long whatever happens to this program, e.g. 10m (default: the provider's)"
  ),
  network: Flag.Boolean("network").pipe(
    Flag.withDescription("Allow outbound network from the sandbox (local sandboxes have none by default)"),
    Flag.withDefault(false)
  )
}

export interface SandboxFlagValues {
  readonly image: Option.Option<string>
  readonly template: Option.Option<string>
  readonly env: Option.Option<Record<string, string>>
  readonly label: Option.Option<Record<string, string>>
  readonly lifetime: Option.Option<number>
  readonly network: boolean
}

export const specFromFlags = (flags: SandboxFlagValues): SandboxSpecInput => {
  const env = optionalRecord(flags.env)
  const labels = optionalRecord(flags.label)
  return {
    ...(Option.isSome(flags.image) ? { image: flags.image.value } : {}),
    ...(Option.isSome(flags.template) ? { template: flags.template.value } : {}),
    ...(env === undefined ? {} : { env }),
    ...(labels === undefined ? {} : { labels }),
    ...(Option.isSome(flags.lifetime) ? { lifetime: { maxLifetime: flags.lifetime.value } } : {}),
    ...(flags.network ? { network: { outbound: true } } : {})
  }
}

export const countBy = (ids: ReadonlyArray<{ readonly label: string }>): string => {
  const counts = new Map<string, number>()
  for (const { label } of ids) counts.set(label, (counts.get(label) ?? 0) + 1)
  return [...counts].map(([label, n]) => `${label}: ${n}`).join(", ")
}
