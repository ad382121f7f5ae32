/**
 * What a conformance check is, and the scaffolding every check shares: a unique label per check, sandboxes created
 * in the check's own scope, and the leak check that runs after that scope has closed.
 */
import { Context, Effect, Exit, type Scope } from "effect"
import {
  hasCapability,
  SandboxProvider,
  type Capabilities,
  type OptionalCapability,
  type Sandbox,
  type SandboxError,
  type SandboxProviderShape,
  type SandboxSpecInput
} from "@sandkit/core"
import { AssertionFailed, expectUnsupported } from "./Assert.ts"
import { probe } from "./internal/probes.ts"

/** One named conformance check: an Effect against the `SandboxProvider` service. */
export interface ConformanceCheck {
  readonly name: string
  /**
   * The optional capability this check is about. When the provider declares it, the check exercises the real
   * behaviour; when it does not, the check asserts the typed `Unsupported` error naming this capability.
   */
  readonly capability?: OptionalCapability
  readonly run: Effect.Effect<void, unknown, SandboxProvider | Scope.Scope>
}

/** The label key every sandbox a check creates carries (its value is unique per check run). */
export const CONFORMANCE_LABEL = "conformance"

/** Settings the runners pass to the checks. */
export interface ConformanceSettings {
  /** Prefix of the `conformance` label value, e.g. a CI job id. Label-value characters only: `[A-Za-z0-9._:@/+-]`. */
  readonly labelPrefix: string
}

export const ConformanceSettings = Context.Reference<ConformanceSettings>("@sandkit/conformance/ConformanceSettings", {
  defaultValue: () => ({ labelPrefix: "c" })
})

/** The longest prefix that still leaves room for the random part within the 63-character label-value limit. */
export const MAX_LABEL_PREFIX = 40

const LABEL_PREFIX = /^[A-Za-z0-9._:@/+-]{0,40}$/

/** `undefined` when `prefix` can be used as a label prefix, else why not. */
export const validateLabelPrefix = (prefix: string): string | undefined =>
  LABEL_PREFIX.test(prefix)
    ? undefined
    : `label prefix ${JSON.stringify(prefix)} must be at most ${MAX_LABEL_PREFIX} characters of [A-Za-z0-9._:@/+-]`

/** A random lower-case hex string. */
export const randomHex = (length: number): string => {
  const bytes = new Uint8Array(Math.ceil(length / 2))
  globalThis.crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, length)
}

/** What a check body gets. */
export interface CheckContext {
  readonly provider: SandboxProviderShape
  readonly capabilities: Capabilities
  /** This check's label, `{ conformance: <unique value> }`. */
  readonly labels: Readonly<Record<string, string>>
  /** A spec carrying this check's labels (merged over `extra.labels`). */
  readonly spec: (extra?: SandboxSpecInput) => SandboxSpecInput
  /** Another unique label set for this check; it is leak-checked as well. */
  readonly moreLabels: () => Readonly<Record<string, string>>
  /** A unique name-safe token (`[a-z0-9-]`), for sandbox names, file names, port choices. */
  readonly unique: (prefix: string) => string
  /** `provider.create(spec(extra))` in the check's scope. */
  readonly sandbox: (extra?: SandboxSpecInput) => Effect.Effect<Sandbox, SandboxError, Scope.Scope>
}

export type CheckBody = (ctx: CheckContext) => Effect.Effect<void, unknown, SandboxProvider | Scope.Scope>

const makeContext = (provider: SandboxProviderShape, prefix: string, issued: Array<Record<string, string>>): CheckContext => {
  const freshLabels = () => {
    const labels = { [CONFORMANCE_LABEL]: `${prefix}${prefix === "" ? "" : "-"}${randomHex(12)}` }
    issued.push(labels)
    return labels
  }
  const labels = freshLabels()
  const spec = (extra: SandboxSpecInput = {}): SandboxSpecInput => ({ ...extra, labels: { ...extra.labels, ...labels } })
  return {
    provider,
    capabilities: provider.capabilities,
    labels,
    spec,
    moreLabels: freshLabels,
    unique: (p) => `${p}-${randomHex(10)}`,
    sandbox: (extra) => provider.create(spec(extra))
  }
}

/** Everything still listed under the given labels. */
const leftovers = (provider: SandboxProviderShape, issued: ReadonlyArray<Record<string, string>>) =>
  Effect.map(
    Effect.forEach(issued, (labels) => provider.list({ labels })),
    (lists) => lists.flat()
  )

/**
 * Build a check: runs `body` in its own scope, then asserts that nothing labelled by this check is still listed.
 * Whatever is left (after a success, a failure or an interruption) is destroyed so one failing check does not
 * leak into the next; after a success a leftover fails the check.
 */
export const makeCheck = (
  name: string,
  body: CheckBody,
  options: { readonly capability?: OptionalCapability } = {}
): ConformanceCheck => ({
  name,
  ...(options.capability === undefined ? {} : { capability: options.capability }),
  run: Effect.gen(function*() {
    const provider = yield* SandboxProvider
    const { labelPrefix } = yield* ConformanceSettings
    const issued: Array<Record<string, string>> = []
    const ctx = makeContext(provider, labelPrefix, issued)
    const cleanup = leftovers(provider, issued).pipe(
      Effect.flatMap((infos) => Effect.forEach(infos, (info) => Effect.ignore(provider.destroy(info.id)), { discard: true })),
      Effect.ignore
    )
    const exit = yield* Effect.exit(Effect.scoped(body(ctx))).pipe(Effect.onInterrupt(() => cleanup))
    if (Exit.isFailure(exit)) {
      yield* cleanup
      return yield* exit
    }
    const leaked = yield* leftovers(provider, issued)
    if (leaked.length > 0) {
      yield* cleanup
      return yield* new AssertionFailed({
        message: `leak: after the check's scope closed, list({ labels }) still finds ${leaked.map((i) => `${i.id} (${i.state})`).join(", ")}`
      })
    }
  })
})

/**
 * A check about an optional capability. When the provider declares it, `supported` runs; otherwise `unsupported`
 * runs, by default: create a sandbox and assert that the capability's probe fails with `Unsupported(capability)`.
 */
export const capabilityCheck = (
  name: string,
  capability: OptionalCapability,
  supported: CheckBody,
  unsupported: CheckBody = (ctx) =>
    Effect.gen(function*() {
      const sandbox = yield* ctx.sandbox()
      yield* expectUnsupported(probe(capability, sandbox, ctx.provider), capability, `${capability} is not declared`)
    })
): ConformanceCheck =>
  makeCheck(name, (ctx) => hasCapability(ctx.capabilities, capability) ? supported(ctx) : unsupported(ctx), { capability })
