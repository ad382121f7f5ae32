/**
 * What can go wrong in the CLI, how each failure is shown (one line `<Tag> (<provider>): <message>` plus a hint), and
 * which exit code it gives. Nothing printed here may carry a credential: every line goes through `redact`.
 */
import { isSandboxError, type SandboxError } from "@sandkit/core"
import { Cause, Data, Duration } from "effect"

/** Bad flags or arguments the parser could not catch (an unknown provider, say). Exit code 2. */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly message: string
  /** The command path for the `--help` hint, e.g. `sandkit exec`. */
  readonly command?: string | undefined
}> {}

/** The provider's adapter package (or its emulator) is not installed, or does not export what the CLI needs. */
export class AdapterNotInstalled extends Data.TaggedError("AdapterNotInstalled")<{
  readonly provider: string
  readonly packageName: string
  /** `missing`: the package is not installed; `incomplete`: it does not export the provider yet; `broken`: it fails to
   * load; `no-emulator`: the CLI has no emulator wiring for this cloud yet. */
  readonly reason: "missing" | "incomplete" | "broken" | "no-emulator"
  readonly message: string
  readonly cause?: unknown
}> {}

/** A provider's configuration from the environment is missing or malformed (not a credential problem). */
export class InvalidConfiguration extends Data.TaggedError("InvalidConfiguration")<{
  readonly provider: string
  readonly message: string
  readonly variables: ReadonlyArray<string>
  readonly cause?: unknown
}> {}

/** The user said no at a confirmation prompt. Exit code 1. */
export class Aborted extends Data.TaggedError("Aborted")<{ readonly message: string }> {}

export type CliFailure = SandboxError | UsageError | AdapterNotInstalled | InvalidConfiguration | Aborted

const cliTags = new Set(["UsageError", "AdapterNotInstalled", "InvalidConfiguration", "Aborted"])

export const isCliFailure = (u: unknown): u is CliFailure =>
  isSandboxError(u) || (typeof u === "object" && u !== null && "_tag" in u && cliTags.has(String(u._tag)))

/** Exit codes. `exec` and `shell` exit with the command's own code when it ran. */
export const ExitCodes = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The command ran past `--timeout` (the GNU `timeout` convention). */
  timeout: 124,
  /** Ctrl-C (128 + SIGINT). */
  interrupted: 130,
  /** SIGTERM (128 + 15). */
  terminated: 143
} as const

export const exitCodeOf = (error: CliFailure): number => {
  switch (error._tag) {
    case "UsageError":
    case "InvalidRequest":
      return ExitCodes.usage
    case "CommandTimeout":
      return ExitCodes.timeout
    default:
      return ExitCodes.failure
  }
}

/** What the hints need to know about the provider an error came from. */
export interface HintContext {
  /** The CLI command, for `--help` hints: `sandkit exec`. */
  readonly command: string
  /** Credential variables of the provider, by provider name. */
  readonly credentials: (provider: string) => ReadonlyArray<string>
  /** Whether the provider has an offline emulator the user could try instead. */
  readonly hasEmulator: (provider: string) => boolean
}

const and = (names: ReadonlyArray<string>) =>
  names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`

export const hintFor = (error: CliFailure, context: HintContext): string | undefined => {
  const provider = "provider" in error ? error.provider : ""
  const credentials = context.credentials(provider)
  const emulator = context.hasEmulator(provider) ? ", or add --emulate to try the offline emulator" : ""
  switch (error._tag) {
    case "UsageError":
      return `see '${error.command ?? "sandkit"} --help'`
    case "InvalidRequest":
      return `check the flag values; see '${context.command} --help'`
    case "AuthenticationFailed":
      return credentials.length > 0 ? `check ${and(credentials)}${emulator}` : "check the provider's credentials"
    case "PermissionDenied":
      return credentials.length > 0
        ? `the account behind ${and(credentials)} may not do this`
        : "the sandbox may not touch that path or resource"
    case "SandboxNotFound":
      return `it expired or was destroyed already; 'sandkit ls --provider ${provider}' shows what exists`
    case "RateLimited":
      return error.retryAfter === undefined
        ? "the provider is throttling requests; wait a little and retry"
        : `the provider is throttling requests; retry in ${Duration.format(error.retryAfter)}`
    case "QuotaExceeded":
      return `an account limit was reached; 'sandkit reap --provider ${provider}' removes leftover sandboxes`
    case "ProviderUnavailable":
      return `${provider} could not be reached or failed on its side; check the network or its status page, then retry`
    case "StartupTimeout":
      return "the sandbox did not become ready in time (it has been destroyed); retry"
    case "CommandTimeout":
      return "the command ran past --timeout and was killed; raise --timeout"
    case "FileNotFound":
      return undefined
    case "Unsupported":
      return error.capability === "template" || error.capability === "image"
        ? `${provider} does not take --image/--template that way; run without it or pick another provider`
        : `${provider} cannot do this here; 'sandkit doctor' shows the configured providers`
    case "ProviderError":
      return "re-run with --verbose for the provider's raw answer"
    case "AdapterNotInstalled":
      switch (error.reason) {
        case "missing":
          return `install ${error.packageName} next to @sandkit/cli (e.g. npm install -g ${error.packageName})`
        case "incomplete":
        case "broken":
          return `${error.packageName} is installed but not usable; update it to a finished release`
        case "no-emulator":
          return credentials.length > 0
            ? `run against the real service instead: set ${and(credentials)} and drop --emulate`
            : undefined
      }
    case "InvalidConfiguration":
      return error.variables.length > 0 ? `check ${and(error.variables)}` : undefined
    case "Aborted":
      return undefined
  }
}

/** `<Tag> (<provider>): <message>`, the one line every failure is shown as. */
export const headline = (error: CliFailure): string => {
  const provider = "provider" in error && error.provider !== "" ? ` (${error.provider})` : ""
  const sandbox = "sandboxId" in error && error.sandboxId !== undefined && !error.message.includes(error.sandboxId)
    ? ` [${error.sandboxId}]`
    : ""
  return `${error._tag}${provider}: ${oneLine(error.message)}${sandbox}`
}

const oneLine = (text: string): string => {
  const flat = text.replace(/\s*\n\s*/g, "; ").trim()
  return flat.length > 500 ? flat.slice(0, 497) + "..." : flat
}

/** One link of a cause chain. Adapters' causes are plain `{ name, message, status? }` objects, not `Error`s. */
const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`
  if (typeof cause === "object" && cause !== null && typeof (cause as { message?: unknown }).message === "string") {
    const { name, message, status } = cause as { readonly name?: unknown; readonly message: string; readonly status?: unknown }
    const label = typeof name === "string" ? name : "Error"
    return oneLine(`${label}${typeof status === "number" ? ` (${status})` : ""}: ${message}`)
  }
  return oneLine(String(cause))
}

/** The `cause` chain of an error, one line per link (for `--verbose`). */
export const causeChain = (error: unknown): ReadonlyArray<string> => {
  const out: Array<string> = []
  let current = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    out.push(describeCause(current))
    current = typeof current === "object" && "cause" in current ? current.cause : undefined
  }
  return out
}

/** Render a failure: the headline, a hint, and with `verbose` the cause chain and the Effect cause (with traces). */
export const renderFailure = (
  error: CliFailure,
  context: HintContext,
  options: { readonly verbose: boolean; readonly cause?: Cause.Cause<unknown> | undefined }
): string => {
  const lines = [headline(error)]
  const hint = hintFor(error, context)
  if (hint !== undefined) lines.push(`hint: ${hint}`)
  if (options.verbose) {
    for (const link of causeChain(error)) lines.push(`  caused by: ${link}`)
    if (options.cause !== undefined) lines.push(Cause.pretty(options.cause))
  }
  return lines.join("\n") + "\n"
}

/** A failure nobody planned for (a bug, a defect in an adapter). */
export const renderDefect = (cause: Cause.Cause<unknown>, options: { readonly verbose: boolean }): string => {
  const squashed = Cause.squash(cause)
  const message = squashed instanceof Error ? `${squashed.name}: ${squashed.message}` : String(squashed)
  const lines = [`Error: ${oneLine(message)}`]
  lines.push(options.verbose ? Cause.pretty(cause) : "hint: this looks like a bug in sandkit; re-run with --verbose and report it")
  return lines.join("\n") + "\n"
}

/**
 * Replace every value of the given variables that occurs in `text` with `<redacted>`. The core already keeps secrets
 * out of errors; this is the CLI's own belt and braces for everything it prints about a failure.
 */
export const makeRedactor = (env: Readonly<Record<string, string | undefined>>, variables: ReadonlyArray<string>) => {
  const secrets = variables
    .map((name) => env[name])
    .filter((value): value is string => value !== undefined && value.length >= 4)
    .sort((a, b) => b.length - a.length)
  return (text: string): string => secrets.reduce((acc, secret) => acc.split(secret).join("<redacted>"), text)
}
