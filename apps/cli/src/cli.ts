/**
 * The root command and what every subcommand shares: the `--emulate` / `--verbose` flags, the way a handler's
 * failures are shown (one line plus a hint, never a stack trace unless `--verbose`), and the exit status.
 */
import { makeRunId, SandkitRun } from "@sandkit/core"
import { Cause, Config, Effect, Option, References, type Scope } from "effect"
import { CliOutput, Command, Flag } from "effect/cli"
import {
  type CliFailure,
  exitCodeOf,
  ExitCodes,
  type HintContext,
  isCliFailure,
  makeRedactor,
  renderFailure
} from "./errors.ts"
import { stderr, stdout } from "./io.ts"
import { allCredentialVariables, type Env, findEntry } from "./providers.ts"

/** The `sandkit.owner` label of the sandboxes `exec` and `shell` create. */
export const CLI_OWNER = "sandkit-cli"

/** The exit status the process ends with when the program completes (not interrupted, no defect). */
export const exitStatus = { code: ExitCodes.ok as number }

export const root = Command.make("sandkit").pipe(
  Command.withSharedFlags({
    emulate: Flag.Boolean("emulate").pipe(
      Flag.withDescription("Run the clouds through their offline emulators (@sandkit/emulators), never the real service (env: SANDKIT_EMULATE=1)"),
      Flag.withFallbackConfig(Config.Boolean("SANDKIT_EMULATE")),
      Flag.withDefault(false)
    ),
    verbose: Flag.Boolean("verbose").pipe(
      Flag.withDescription("On failure, also show the cause chain and trace; log the providers' debug lines"),
      Flag.withDefault(false)
    )
  }),
  Command.withDescription(
    "Sandkit: see, clean up and use sandboxes on the local machine and the cloud providers (E2B, Daytona, Modal, Runloop)"
  )
)

export interface RunContext {
  readonly emulate: boolean
  readonly verbose: boolean
  readonly env: Env
  /** `sandkit exec`, for hints. */
  readonly command: string
  readonly hints: HintContext
  /** Redact every credential value that might appear in `text`. */
  readonly redact: (text: string) => string
  /** Show a failure (one line and a hint) on stderr. */
  readonly report: (failure: CliFailure, cause?: Cause.Cause<unknown>) => Effect.Effect<void>
}

export const hintContext = (command: string): HintContext => ({
  command,
  credentials: (provider) => findEntry(provider)?.credentials ?? [],
  hasEmulator: (provider) => findEntry(provider)?.emulated !== undefined
})

export const makeContext = (command: string, flags: { readonly emulate: boolean; readonly verbose: boolean }, env: Env): RunContext => {
  const hints = hintContext(command)
  const redact = makeRedactor(env, allCredentialVariables())
  return {
    ...flags,
    env,
    command,
    hints,
    redact,
    report: (failure, cause) => stderr(redact(renderFailure(failure, hints, { verbose: flags.verbose, cause })))
  }
}

/**
 * A subcommand's handler: runs `body` in a scope (every sandbox and emulator it opened is released before anything
 * is reported), shows a failure as one line and a hint, and sets the exit status (the body's number on success).
 * Interruption (Ctrl-C) and defects pass through to the runner in `main.ts`.
 */
export const handler = <I>(
  name: string,
  body: (input: I, context: RunContext) => Effect.Effect<number, CliFailure, Scope.Scope>
) =>
(input: I) =>
  Effect.gen(function*() {
    const flags = yield* root
    const context = makeContext(`sandkit ${name}`, flags, process.env)
    const code = yield* body(input, context).pipe(
      Effect.scoped,
      Effect.catchCause((cause) => {
        if (Cause.hasInterrupts(cause)) return Effect.failCause(cause)
        const failure = Cause.findErrorOption(cause)
        if (Option.isSome(failure) && isCliFailure(failure.value)) {
          return Effect.as(context.report(failure.value, cause), exitCodeOf(failure.value))
        }
        return Effect.failCause(cause)
      }),
      Effect.provideService(References.MinimumLogLevel, flags.verbose ? "Debug" : "Warn"),
      // Sandboxes made here say so: `sandkit.owner=sandkit-cli`, and one `sandkit.run` per invocation.
      Effect.provideService(SandkitRun, { owner: CLI_OWNER, runId: makeRunId() })
    )
    exitStatus.code = code
  })

/**
 * Help goes to stdout; a usage error is one line per problem on stderr plus a pointer to `--help` (the full help
 * page would bury the error). The exit code for those is set in `main.ts`.
 */
export const presenter: CliOutput.Presenter = {
  present: (event) => {
    const colors = process.stdout.isTTY === true && (process.env.NO_COLOR ?? "") === ""
    const formatter = CliOutput.defaultFormatter({ colors })
    switch (event._tag) {
      case "Help":
        return stdout(formatter.formatHelpDoc(event.helpDoc) + "\n")
      case "Version":
        return stdout(`${event.name} ${event.version}\n`)
      case "InvalidInvocation": {
        const lines = event.errors.map((error) => `UsageError: ${error.message}`)
        lines.push(`hint: see '${event.commandPath.join(" ")} --help'`)
        return stderr(lines.join("\n") + "\n")
      }
    }
  }
}

/** `--label a=b --label c=d` / `--env K=V`: undefined when none were given. */
export const optionalRecord = (value: Option.Option<Record<string, string>>): Record<string, string> | undefined =>
  Option.isSome(value) && Object.keys(value.value).length > 0 ? value.value : undefined
