/**
 * One small call per optional capability, used to assert `Unsupported` when the capability is not declared (and,
 * when it is, that the call is at least not refused as unsupported).
 */
import { Effect, Stream, type Scope } from "effect"
import type { OptionalCapability, Sandbox, SandboxProviderShape } from "@sandkit/core"
import { sampleFor } from "./samples.ts"

const encoder = new TextEncoder()

/**
 * A port number unlikely to collide with anything else on a shared host: below the ephemeral ranges (Linux 32768+,
 * macOS and Windows 49152+), where every OS-assigned listener lives — emulators on port 0 among them. (With 20000-39999,
 * a sandbox's server could lose its port to an emulator of a concurrent run, and the check then reached that emulator.)
 */
export const randomPort = (): number => 20000 + Math.floor(Math.random() * 12000)

export const probe = (
  capability: OptionalCapability,
  sandbox: Sandbox,
  provider: SandboxProviderShape
): Effect.Effect<unknown, unknown, Scope.Scope> => {
  switch (capability) {
    case "execStream":
      return Stream.runDrain(sandbox.execStream("true"))
    case "spawn":
      return Effect.flatMap(sandbox.spawn("true"), (process) => process.wait)
    case "stdin":
      return sandbox.exec("cat", { stdin: "x" })
    case "files":
      return sandbox.files.exists("conformance-probe")
    case "bulkTransfer":
      return Effect.andThen(
        sandbox.files.upload("conformance-probe-dir", [{ path: "probe.txt", data: encoder.encode("probe") }]),
        Stream.runDrain(sandbox.files.download("conformance-probe-dir"))
      )
    case "exposePort":
      return sandbox.exposePort(randomPort())
    case "runCode": {
      const language = sandbox.capabilities.runCode[0]
      const sample = language === undefined ? undefined : sampleFor(language)
      return sandbox.runCode(sample?.code ?? "1")
    }
    case "setTimeout":
      return sandbox.setTimeout("30 minutes")
    case "pause":
      return Effect.andThen(sandbox.pause, sandbox.resume)
    case "snapshot":
      return Effect.flatMap(sandbox.snapshot, (snapshot) => provider.deleteSnapshot(snapshot))
    case "template":
      // A template that does not exist: a provider with templates says so (not Unsupported); one without, Unsupported.
      return provider.create({ template: "sandkit-conformance-no-such-template", labels: sandbox.info.labels["conformance"] === undefined ? {} : { conformance: sandbox.info.labels["conformance"] } })
  }
}
