/**
 * `sandkit exec <provider> -- <command…>`: create a sandbox, run one command with its output streamed live, destroy
 * the sandbox, and exit with the command's exit code.
 */
import type { ExecOptionsInput } from "@sandkit/core"
import { Effect, Option, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { handler } from "../cli.ts"
import { ExitCodes } from "../errors.ts"
import { createSandbox, readAllStdin, stderr, stdout } from "../io.ts"
import { buildProvider, entryOrUsageError, targetFor, targetLabel } from "../providers.ts"
import { durationFlag, sandboxFlags, specFromFlags } from "./common.ts"

export const providerArgument = Argument.String("provider").pipe(
  Argument.withDescription("local, e2b, daytona, modal or runloop (with --emulate: a cloud's offline emulator)")
)

export const exec = Command.make(
  "exec",
  {
    ...sandboxFlags,
    timeout: durationFlag("timeout", "Kill the command after this long, e.g. 30s, 5m (exit code 124)"),
    cwd: Flag.String("cwd").pipe(Flag.withMetavar("path"), Flag.withDescription("Working directory inside the sandbox"), Flag.optional),
    stdin: Flag.Boolean("stdin").pipe(
      Flag.withAlias("i"),
      Flag.withDescription("Read this program's standard input to the end and feed it to the command"),
      Flag.withDefault(false)
    ),
    provider: providerArgument,
    command: Argument.String("command").pipe(
      Argument.withDescription("After --: one argument is a shell command line (run with sh -c); several are run as argv"),
      Argument.variadic({ min: 1 })
    )
  },
  handler("exec", (flags, context) =>
    Effect.gen(function*() {
      const entry = yield* entryOrUsageError(flags.provider, context.command)
      const target = targetFor(entry, context.emulate)
      const label = targetLabel(target)
      const provider = yield* buildProvider(target, context.env)
      const input = flags.stdin ? yield* readAllStdin : undefined
      const sandbox = yield* createSandbox(provider, label, specFromFlags(flags))
      yield* Effect.logDebug(`created ${label} sandbox ${sandbox.id} (isolation: ${sandbox.capabilities.isolation})`)

      const command = flags.command.length === 1 ? flags.command[0]! : flags.command
      const options: ExecOptionsInput = {
        ...(Option.isSome(flags.timeout) ? { timeout: flags.timeout.value } : {}),
        ...(Option.isSome(flags.cwd) ? { cwd: flags.cwd.value } : {}),
        ...(input === undefined ? {} : { stdin: input })
      }
      if (!sandbox.capabilities.execStream) {
        // No streaming on this provider: the output comes at the end.
        const result = yield* sandbox.exec(command, options)
        yield* stdout(result.stdout)
        yield* stderr(result.stderr)
        return result.exitCode
      }
      let exitCode: number | undefined
      yield* sandbox.execStream(command, options).pipe(
        Stream.runForEach((event) => {
          switch (event._tag) {
            case "Stdout":
              return stdout(event.data)
            case "Stderr":
              return stderr(event.data)
            case "Exit":
              return Effect.sync(() => {
                exitCode = event.exitCode
              })
          }
        })
      )
      if (exitCode === undefined) {
        yield* stderr(`sandkit: warning: ${label} did not report the command's exit code\n`)
        return ExitCodes.failure
      }
      return exitCode
    }))
).pipe(
  Command.withShortDescription("Run one command in a fresh sandbox, stream its output, exit with its code"),
  Command.withDescription(
    "Create a sandbox, run one command in it with its output streamed live to stdout/stderr, destroy the sandbox, " +
      "and exit with the command's exit code (124 when --timeout killed it, 130 on Ctrl-C; the sandbox is destroyed either way)."
  ),
  Command.withExamples([
    { command: "sandkit exec local -- uname -a", description: "argv: run uname with one argument" },
    { command: "sandkit exec local -- 'echo $HOME && exit 3'", description: "one argument: a shell command line; exits 3" },
    { command: "sandkit exec e2b --emulate --env NAME=world -- 'echo hello $NAME'", description: "on the offline E2B emulator" },
    { command: "echo 'print(6*7)' | sandkit exec local --stdin -- python3", description: "feed standard input" }
  ])
)
