/**
 * Input schemas. Everything a user passes is decoded here first; a failure is an `InvalidRequest` raised before any
 * process starts or any request leaves the machine.
 */
import { Duration, Effect, Option, Schema } from "effect"
import { optionalCapabilities } from "./Capabilities.ts"
import { InvalidRequest } from "./SandboxError.ts"

// ---------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------

const noNul = Schema.makeFilter<string>((s) => !s.includes("\u0000") || "must not contain a NUL byte")
/** A lone UTF-16 surrogate cannot be encoded: it would reach the sandbox as U+FFFD, a different name or command. */
const loneSurrogate = /[\uD800-\uDFFF]/u
const wellFormed = Schema.makeFilter<string>((s) => !loneSurrogate.test(s) || "must be well-formed Unicode (no lone surrogates)")

/** A path inside the sandbox: non-empty, no NUL byte, at most 4096 characters. */
export const SandboxPath = Schema.String.check(
  Schema.isMinLength(1, { message: "path must not be empty" }),
  Schema.isMaxLength(4096, { message: "path must be at most 4096 characters" }),
  noNul,
  wellFormed
)

/** POSIX-portable environment variable names (no `=`, no leading digit). */
export const EnvName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, {
    message: "environment variable names must match [A-Za-z_][A-Za-z0-9_]* (no '=')"
  })
)
export const EnvValue = Schema.String.check(
  noNul,
  wellFormed,
  Schema.isMaxLength(131072, { message: "environment values must be at most 128 KiB" })
)
/**
 * A record whose every key must pass `key`. (`Schema.Record(KeySchema, …)` silently drops keys that fail the key
 * schema; a user's misspelt env name must be an error, not a missing variable.)
 */
const recordOf = <V extends Schema.Top>(key: RegExp, message: string, value: V) =>
  Schema.Record(Schema.String, value).check(
    Schema.makeFilter<Record<string, unknown>>((record) => {
      const bad = Object.keys(record).find((k) => !key.test(k))
      return bad === undefined || `${message}: ${JSON.stringify(bad)}`
    })
  )

export const Env = recordOf(/^[A-Za-z_][A-Za-z0-9_]{0,255}$/, "environment variable names must match [A-Za-z_][A-Za-z0-9_]* (no '=')", EnvValue)

/** Label keys Kubernetes-style: 1–63 characters, alphanumerics with `.`, `_`, `-`, `/` inside. */
export const LabelKey = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/, {
    message: "label keys are 1-63 characters of [A-Za-z0-9._/-], starting and ending alphanumeric"
  })
)
/** Label values: at most 63 printable characters (the strictest of the clouds' limits). */
export const LabelValue = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9._:@/+-]{0,63}$/, {
    message: "label values are at most 63 characters of [A-Za-z0-9._:@/+-]"
  })
)
export const Labels = recordOf(
  /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/,
  "label keys are 1-63 characters of [A-Za-z0-9._/-], starting and ending alphanumeric",
  LabelValue
).check(
  Schema.isMaxProperties(32, { message: "at most 32 labels" })
)

/** The longest wait a JavaScript timer can hold (~24.8 days); longer ones fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1
/** The oldest age `reap({ olderThan })` takes: 100 years (longer would name a date before any sandbox existed). */
const MAX_AGE_MS = 100 * 365.25 * 24 * 3600 * 1000

const isValidDuration = (u: unknown, allowZero: boolean, maxMs = Infinity): boolean => {
  if (typeof u === "number" && !Number.isFinite(u)) return false
  if (typeof u !== "number" && typeof u !== "string" && !Duration.isDuration(u)) return false
  const decoded = Duration.fromInput(u as Duration.Input)
  if (Option.isNone(decoded)) return false
  const d = decoded.value
  if (!Duration.isFinite(d)) return false
  const ms = Duration.toMillis(d)
  return Number.isFinite(ms) && (allowZero ? ms >= 0 : ms > 0) && ms <= maxMs
}

/**
 * A positive, finite duration of at most `MAX_TIMER_MS` (~24.8 days): milliseconds as a number, `"30 seconds"`, or
 * a `Duration`. NaN, negative, zero, infinite and longer values are rejected: timeouts and lifetimes run on timers
 * (locally, in the emulators, in the SDKs), and a longer wait would fire at once instead.
 */
export const PositiveDuration = Schema.declare(
  (u: unknown): u is Duration.Input => isValidDuration(u, false, MAX_TIMER_MS),
  { expected: "a positive finite duration of at most 24.8 days (milliseconds, \"30 seconds\" or a Duration)" }
)

/** An age, for `reap({ olderThan })`: positive, finite, at most 100 years (no timer waits for it). */
export const PositiveAge = Schema.declare(
  (u: unknown): u is Duration.Input => isValidDuration(u, false, MAX_AGE_MS),
  { expected: "a positive finite duration of at most 100 years (milliseconds, \"30 days\" or a Duration)" }
)

export const Port = Schema.Number.check(
  Schema.isInt({ message: "port must be an integer" }),
  Schema.isBetween({ minimum: 1, maximum: 65535 }, { message: "port must be between 1 and 65535" })
)

export const SandboxName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, {
    message: "names are 1-63 characters of [A-Za-z0-9._-], starting alphanumeric"
  })
)

const ImageRef = Schema.String.check(
  Schema.isPattern(/^[^\s\u0000]{1,512}$/, { message: "image/template must be 1-512 characters without spaces" })
)

export const SizeName = Schema.Literals(["small", "medium", "large", "xlarge"])
export type SizeName = typeof SizeName.Type

export const Resources = Schema.Struct({
  cpu: Schema.optionalKey(
    Schema.Number.check(Schema.isBetween({ minimum: 0.125, maximum: 256 }, { message: "cpu must be 0.125-256" }))
  ),
  memoryMiB: Schema.optionalKey(
    Schema.Number.check(
      Schema.isInt({ message: "memoryMiB must be an integer" }),
      Schema.isBetween({ minimum: 64, maximum: 1048576 }, { message: "memoryMiB must be 64-1048576" })
    )
  ),
  diskGiB: Schema.optionalKey(
    Schema.Number.check(
      Schema.isInt({ message: "diskGiB must be an integer" }),
      Schema.isBetween({ minimum: 1, maximum: 65536 }, { message: "diskGiB must be 1-65536" })
    )
  )
})

export const Lifetime = Schema.Struct({
  /** The sandbox is destroyed by the provider after this long, whatever happens to this program. */
  maxLifetime: Schema.optionalKey(PositiveDuration),
  /** Stop (or destroy) after this long without activity, where the provider supports it. */
  idleTimeout: Schema.optionalKey(PositiveDuration)
})

// ---------------------------------------------------------------------------------------------------------------
// SandboxSpec
// ---------------------------------------------------------------------------------------------------------------

export const SandboxSpec = Schema.Struct({
  /** Container image (or the provider's equivalent). Mutually exclusive with `template`. */
  image: Schema.optionalKey(ImageRef),
  /** Provider-side template / blueprint / snapshot name. */
  template: Schema.optionalKey(ImageRef),
  /** A name to find the sandbox by later (`findOrCreate({ name })`). */
  name: Schema.optionalKey(SandboxName),
  /** Environment for every command in the sandbox. */
  env: Schema.optionalKey(Env),
  /** Default working directory for commands. */
  cwd: Schema.optionalKey(SandboxPath),
  /** Your labels; Sandkit adds `sandkit.owner` and `sandkit.run`. Keys under `sandkit.` are reserved. */
  labels: Schema.optionalKey(Labels),
  /** Explicit resources. Mutually exclusive with `size`. */
  resources: Schema.optionalKey(Resources),
  /** A named size, mapped per provider. */
  size: Schema.optionalKey(SizeName),
  lifetime: Schema.optionalKey(Lifetime),
  network: Schema.optionalKey(Schema.Struct({ outbound: Schema.optionalKey(Schema.Boolean) })),
  /** `"strict"` refuses to run on an isolation tier that is not a security boundary (local `process`). */
  isolation: Schema.optionalKey(Schema.Literals(["any", "strict"])),
  /** Start from a snapshot (`sandbox.snapshot()`): its files are there from the first command. */
  from: Schema.optionalKey(Schema.Struct({
    provider: Schema.String,
    id: Schema.String.check(
      Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, { message: "snapshot ids are 1-128 characters of [A-Za-z0-9._:-]" })
    ),
    createdAt: Schema.optionalKey(Schema.declare((u: unknown): u is Date => u instanceof Date, { expected: "a Date" })),
    sizeBytes: Schema.optionalKey(Schema.UndefinedOr(Schema.Number)),
    sourceSandboxId: Schema.optionalKey(Schema.UndefinedOr(Schema.String))
  })),
  /** Capabilities the sandbox must have: `Unsupported` up front otherwise, and composed providers route on it. */
  requires: Schema.optionalKey(Schema.Array(Schema.Literals(optionalCapabilities)))
}).check(
  Schema.makeFilter((spec) => !(spec.image !== undefined && spec.template !== undefined) || "give image or template, not both"),
  Schema.makeFilter((spec) => !(spec.size !== undefined && spec.resources !== undefined) || "give size or resources, not both"),
  Schema.makeFilter((spec) =>
    !Object.keys(spec.labels ?? {}).some((key) => key.startsWith("sandkit.")) ||
    "label keys starting with 'sandkit.' are reserved"
  )
)
export type SandboxSpec = typeof SandboxSpec.Type
/** What callers write: the same shape as `SandboxSpec`. */
export type SandboxSpecInput = typeof SandboxSpec.Encoded

// ---------------------------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------------------------

/** A shell command line (run with `/bin/sh -c`) or an argv array (run directly). */
export const Command = Schema.Union([
  Schema.String.check(
    Schema.makeFilter<string>((s) => s.trim().length > 0 || "command must not be empty"),
    Schema.isMaxLength(1048576, { message: "command must be at most 1 MiB" }),
    noNul,
    wellFormed
  ),
  Schema.Array(Schema.String.check(noNul, wellFormed)).check(
    Schema.makeFilter<ReadonlyArray<string>>((argv) => (argv.length > 0 && argv[0]!.length > 0) || "argv must start with a non-empty program")
  )
])
export type Command = typeof Command.Type

export const ExecOptions = Schema.Struct({
  cwd: Schema.optionalKey(SandboxPath),
  env: Schema.optionalKey(Env),
  /** Kill the command after this long; the call fails with `CommandTimeout`. */
  timeout: Schema.optionalKey(PositiveDuration),
  /** Bytes (or text) fed to standard input, then closed. */
  stdin: Schema.optionalKey(Schema.Union([Schema.String, Schema.Uint8Array])),
  /** Keep at most this many bytes of each stream; the result says `truncated`. Default 16 MiB. */
  maxOutputBytes: Schema.optionalKey(
    Schema.Number.check(
      Schema.isInt({ message: "maxOutputBytes must be an integer" }),
      Schema.isBetween({ minimum: 1, maximum: 1073741824 }, { message: "maxOutputBytes must be 1 B-1 GiB" })
    )
  )
})
export type ExecOptions = typeof ExecOptions.Type
export type ExecOptionsInput = typeof ExecOptions.Encoded

export const SpawnOptions = Schema.Struct({
  cwd: Schema.optionalKey(SandboxPath),
  env: Schema.optionalKey(Env)
})
export type SpawnOptions = typeof SpawnOptions.Type

/** Source code for `runCode`. */
export const Code = Schema.String.check(noNul, wellFormed)

export const RunCodeOptions = Schema.Struct({
  language: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^[a-z0-9+#-]{1,32}$/, { message: "language must be a lower-case name like 'python'" }))),
  /** A context id: state (variables, imports) is kept between calls with the same context. */
  context: Schema.optionalKey(Schema.String.check(Schema.isMinLength(1), noNul, wellFormed)),
  timeout: Schema.optionalKey(PositiveDuration)
})
export type RunCodeOptions = typeof RunCodeOptions.Type

export const ListFilter = Schema.Struct({
  labels: Schema.optionalKey(Labels),
  state: Schema.optionalKey(Schema.Literals(["starting", "running", "paused", "stopped"]))
})
export type ListFilter = typeof ListFilter.Type

export const ReapOptions = Schema.Struct({
  labels: Schema.optionalKey(Labels),
  /** Only sandboxes created longer ago than this. */
  olderThan: Schema.optionalKey(PositiveAge),
  /** Only sandboxes whose creating process is gone (providers that can tell, like `local`). */
  orphaned: Schema.optionalKey(Schema.Boolean),
  /** Report what would be destroyed, destroy nothing. */
  dryRun: Schema.optionalKey(Schema.Boolean)
})
export type ReapOptions = typeof ReapOptions.Type

export const SandboxId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, { message: "sandbox ids are 1-128 characters of [A-Za-z0-9._:-]" })
)

export const FindOrCreateOptions = Schema.Struct({
  name: Schema.optionalKey(SandboxName),
  labels: Schema.optionalKey(Labels)
}).check(
  Schema.makeFilter((o) => o.name !== undefined || Object.keys(o.labels ?? {}).length > 0 || "findOrCreate needs a name or at least one label"),
  // These labels also go on the sandbox findOrCreate may create, so the spec's rule applies here, before any lookup.
  Schema.makeFilter((o) =>
    !Object.keys(o.labels ?? {}).some((key) => key.startsWith("sandkit.")) ||
    "label keys starting with 'sandkit.' are reserved"
  )
)
export type FindOrCreateOptions = typeof FindOrCreateOptions.Type

// ---------------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------------

/** Decode `input` with `schema`; a failure becomes an `InvalidRequest` naming the provider and the offending field. */
export const decodeInput = <S extends Schema.Decoder<unknown>>(schema: S, provider: string, what: string) =>
(input: unknown, sandboxId?: string): Effect.Effect<S["Type"], InvalidRequest> =>
  // Unknown keys are errors: a misspelt option (`{ imgae: … }`) must not be dropped silently.
  Schema.decodeUnknownEffect(schema)(input, { onExcessProperty: "error" }).pipe(
    Effect.mapError((error) =>
      new InvalidRequest({
        provider,
        sandboxId,
        field: what,
        message: `invalid ${what}: ${error.message}`,
        cause: error
      })
    )
  ) as Effect.Effect<S["Type"], InvalidRequest>

/** Duration input (already validated) to milliseconds. */
export const toMillis = (input: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(input))
