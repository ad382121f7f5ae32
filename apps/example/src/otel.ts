/**
 * Sandkit's spans and metrics, exported with OpenTelemetry to the console. Every provider operation is a span
 * `sandkit.<operation>` (attributes `sandkit.provider`, `sandkit.operation`, `sandkit.sandbox`, `sandkit.outcome`)
 * and feeds the metrics `sandkit.sandboxes.created`, `sandkit.operation.failures` (by `error` tag),
 * `sandkit.operation.retries` and `sandkit.operation.duration` (a histogram, in ms). Inputs (env, commands, file
 * contents, keys) never go into telemetry.
 *
 * Run it from the repository root with `pnpm example:otel`. For a real backend, swap the console exporters for
 * OTLP ones (`@opentelemetry/exporter-trace-otlp-http`, `@opentelemetry/exporter-metrics-otlp-http`).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { ConsoleMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { fallback, SandboxProvider } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { Cause, Console, Effect, Exit, Fiber } from "effect"

/**
 * Spans are printed as each one ends; metrics once, when the program ends (the reader's shutdown collects them a
 * last time). A long-running service would keep the periodic export (here: every 60 s).
 */
const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "sandkit-example" },
  spanProcessor: new SimpleSpanProcessor(new ConsoleSpanExporter()),
  metricReader: new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 60_000 })
}))

/**
 * Composition works the same way: `fallback` over provider layers gives one provider whose creates move to the next
 * member on RateLimited / QuotaExceeded / ProviderUnavailable / StartupTimeout. With only the local provider here it
 * has one member; add e.g. `E2bProvider.layerConfig()` in front of it to fall back from E2B to local.
 */
const Providers = fallback([LocalProvider.layer()])

const program = Effect.gen(function*() {
  const provider = yield* SandboxProvider
  yield* Effect.scoped(Effect.gen(function*() {
    const sandbox = yield* provider.create({ labels: { app: "sandkit-otel-example" }, env: { TOKEN: "not-in-telemetry" } })
    const hello = yield* sandbox.exec("echo hello from $(uname -s)")
    yield* Console.log(`exec:  ${hello.stdout.trim()}`)
    yield* sandbox.files.write("data.txt", "file contents stay out of telemetry\n")
    yield* Console.log(`files: read back ${(yield* sandbox.files.readText("data.txt")).length} bytes`)
    // A failing operation: its span gets outcome FileNotFound and the failures metric counts it.
    const missing = yield* Effect.flip(sandbox.files.read("missing.txt"))
    yield* Console.log(`read missing.txt: ${missing._tag} (expected)`)
  }))
}).pipe(Effect.withSpan("example.otel"), Effect.provide(Providers))

// Ctrl-C interrupts the program instead of killing it, so the sandbox is destroyed and telemetry is flushed.
const fiber = Effect.runFork(program.pipe(Effect.provide(Telemetry)))
const interrupt = () => void Effect.runFork(Fiber.interrupt(fiber))
process.once("SIGINT", interrupt)
process.once("SIGTERM", interrupt)
const exit = await Effect.runPromise(Fiber.await(fiber))
process.off("SIGINT", interrupt)
process.off("SIGTERM", interrupt)
if (Exit.isFailure(exit)) {
  console.error(`\notel example failed:\n${Cause.pretty(exit.cause)}`)
  process.exitCode = Cause.hasInterruptsOnly(exit.cause) ? 130 : 1
} else {
  console.log("\nok")
}
