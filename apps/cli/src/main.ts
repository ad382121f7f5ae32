/**
 * `sandkit`: list, reap, exec and shell across the local sandbox and the cloud providers. See apps/cli/README.md.
 *
 * Exit codes: 0 ok; `exec`/`shell`: the command's own code; 1 a runtime failure; 2 a usage error (bad flags, unknown
 * provider, invalid input); 124 `exec --timeout` expired; 130 Ctrl-C (143 SIGTERM). On the first Ctrl-C the main
 * fiber is interrupted, so every open scope closes: the sandboxes this run created are destroyed and emulators
 * stopped. A second Ctrl-C quits at once and names what was left running.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, Exit, Layer, Logger } from "effect"
import { CliOutput, Command } from "effect/cli"
import { exitStatus, presenter, root } from "./cli.ts"
import { doctor } from "./commands/doctor.ts"
import { exec } from "./commands/exec.ts"
import { ls } from "./commands/ls.ts"
import { reap } from "./commands/reap.ts"
import { shell } from "./commands/shell.ts"
import { ExitCodes, makeRedactor, renderDefect } from "./errors.ts"
import { openSandboxes } from "./io.ts"
import { allCredentialVariables } from "./providers.ts"
import { cliVersion } from "./versions.ts"

const redact = makeRedactor(process.env, allCredentialVariables())
const verbose = process.argv.slice(2, process.argv.includes("--") ? process.argv.indexOf("--") : undefined).includes("--verbose")

/** Log lines (adapters' warnings; debug lines with --verbose) as `sandkit: <level>: <message>` on stderr. */
const logger = Logger.make(({ logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const text = parts.map((p) => (typeof p === "string" ? p : p instanceof Error ? p.message : JSON.stringify(p))).join(" ")
  process.stderr.write(redact(`sandkit: ${logLevel.toLowerCase()}: ${text}\n`))
})

const command = root.pipe(Command.withSubcommands([ls, reap, exec, shell, doctor]))

const program = Command.run(command, { version: cliVersion() }).pipe(
  // The presenter already printed the help page or the usage errors.
  Effect.catchTag("ShowHelp", (error) =>
    Effect.sync(() => {
      exitStatus.code = error.errors.length > 0 ? ExitCodes.usage : ExitCodes.ok
    })),
  Effect.provide(Layer.mergeAll(NodeServices.layer, CliOutput.layerPresenter(presenter), Logger.layer([logger])))
)

// A closed pipe (`sandkit ls | head -1`) is not worth a crash.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined)

/** Exit once stdout and stderr have been handed to the OS (pipes can be asynchronous). */
const exitAfterFlush = (code: number) => {
  process.exitCode = code
  let pending = 2
  const done = () => {
    if (--pending === 0) process.exit(code)
  }
  process.stdout.write("", done)
  process.stderr.write("", done)
}

const fiber = Effect.runFork(program)

let signals = 0
let signalCode: number = ExitCodes.interrupted
const onSignal = (signal: NodeJS.Signals) => {
  signals += 1
  signalCode = signal === "SIGTERM" ? ExitCodes.terminated : ExitCodes.interrupted
  const open = openSandboxes()
  const names = open.map((s) => `${s.label} sandbox ${s.id}`).join(", ")
  if (signals === 1) {
    const doing = open.length > 0 ? `destroying ${names}` : "cleaning up"
    process.stderr.write(`\nsandkit: interrupted; ${doing} (Ctrl-C again to quit at once)\n`)
    fiber.interruptUnsafe()
    return
  }
  if (open.length > 0) {
    const providers = [...new Set(open.map((s) => s.provider))].join(",")
    process.stderr.write(`sandkit: quitting at once; still running: ${names}; 'sandkit reap --provider ${providers}' removes them\n`)
  }
  process.exit(signalCode)
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
process.on("SIGHUP", onSignal)

fiber.addObserver((exit: Exit.Exit<void, unknown>) => {
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  process.off("SIGHUP", onSignal)
  if (Exit.isSuccess(exit)) return exitAfterFlush(exitStatus.code)
  if (Cause.hasInterruptsOnly(exit.cause)) return exitAfterFlush(signals > 0 ? signalCode : ExitCodes.interrupted)
  process.stderr.write(redact(renderDefect(exit.cause, { verbose })))
  exitAfterFlush(ExitCodes.failure)
})

