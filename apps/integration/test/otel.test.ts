/**
 * Spans and metrics as an OpenTelemetry backend receives them: `@effect/opentelemetry`'s Node SDK layer with an
 * in-memory span exporter and an in-memory metric exporter, around real operations on the E2B adapter over its
 * emulator (a fake key of our choosing, so the test can search every exported byte for it).
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
  type ResourceMetrics
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { assert, describe, it } from "@effect/vitest"
import { RetryPolicy, SandboxProvider } from "@sandkit/core"
import { Effect, Metric } from "effect"
import { failureOf, fastPolicy } from "@sandkit/emulators/testkit"
import { E2B_KEY, e2bLayer, EmulatedClouds, EmulatedCloudsLayer } from "./emulatedClouds.ts"

/** Values that must never reach telemetry: an env value, text inside a command, file contents (and the API key). */
const ENV_SECRET = "envval_SANDKIT_FAKE_3b9e1f"
const COMMAND_SECRET = "cmdtext_SANDKIT_FAKE_8a4c2d"
const FILE_SECRET = "content_SANDKIT_FAKE_6d0a7e"

/** What an exporter would ship for a span, as plain data (every field that carries a value). */
const spanRecord = (span: ReadableSpan) => ({
  name: span.name,
  kind: span.kind,
  traceId: span.spanContext().traceId,
  spanId: span.spanContext().spanId,
  parentSpanId: span.parentSpanContext?.spanId,
  attributes: span.attributes,
  status: span.status,
  events: span.events.map((e) => ({ name: e.name, attributes: e.attributes })),
  links: span.links,
  resource: span.resource.attributes,
  scope: span.instrumentationScope
})

interface Point {
  readonly metric: string
  readonly type: DataPointType
  readonly attributes: Readonly<Record<string, unknown>>
  readonly value: unknown
}

const points = (exported: ReadonlyArray<ResourceMetrics>): ReadonlyArray<Point> =>
  exported.flatMap((rm) =>
    rm.scopeMetrics.flatMap((sm) =>
      sm.metrics.flatMap((m) =>
        (m.dataPoints as ReadonlyArray<{ attributes: Record<string, unknown>; value: unknown }>).map((p) => ({
          metric: m.descriptor.name,
          type: m.dataPointType,
          attributes: p.attributes,
          value: p.value
        }))
      )
    )
  )

const sumOf = (all: ReadonlyArray<Point>, metric: string, where: Readonly<Record<string, string>>) =>
  all
    .filter((p) => p.metric === metric && Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((n, p) => n + Number(p.value), 0)

describe("OpenTelemetry export (in-memory exporters)", () => {
  it.layer(EmulatedCloudsLayer, { timeout: 120_000, excludeTestServices: true })("e2b over its emulator", (it) => {
    it.effect("spans and metrics for create/exec/files/destroy and failures: names, attributes, parentage, no secrets", () =>
      Effect.gen(function*() {
        const clouds = yield* EmulatedClouds
        const spanExporter = new InMemorySpanExporter()
        const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
        // A long interval: the test collects explicitly (forceFlush), nothing is exported on a timer.
        const metricReader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
        const Telemetry = NodeSdk.layer(() => ({
          resource: { serviceName: "sandkit-otel-test" },
          spanProcessor: new SimpleSpanProcessor(spanExporter),
          metricReader
        }))

        const program = Effect.gen(function*() {
          const provider = yield* SandboxProvider
          yield* Effect.scoped(Effect.gen(function*() {
            const sandbox = yield* provider.create({ env: { API_TOKEN: ENV_SECRET }, labels: { "it.case": "otel" } })
            const echoed = yield* sandbox.exec(`echo ${COMMAND_SECRET} > /dev/null; test -n "$API_TOKEN" && echo ok`)
            assert.strictEqual(echoed.stdout, "ok\n")
            const slow = failureOf(yield* Effect.exit(sandbox.exec(`sleep 5; echo ${COMMAND_SECRET}`, { timeout: "300 millis" })))
            assert.strictEqual(slow._tag, "CommandTimeout")
            clouds.e2b.faults.failNext("files.write", { status: 503, times: 1 })
            yield* sandbox.files.write("notes.txt", FILE_SECRET)
            assert.strictEqual(yield* sandbox.files.readText("notes.txt"), FILE_SECRET)
            const missing = failureOf(yield* Effect.exit(sandbox.files.read("no-such-file.txt")))
            assert.strictEqual(missing._tag, "FileNotFound")
            yield* sandbox.destroy
          }))
          clouds.e2b.faults.rateLimitNext("create", { times: 3 })
          const limited = failureOf(yield* Effect.exit(provider.createDetached()))
          assert.strictEqual(limited._tag, "RateLimited")
        }).pipe(
          Effect.withSpan("test.root"),
          Effect.provide(e2bLayer(clouds)),
          Effect.provideService(RetryPolicy, fastPolicy(2))
        )
        const [spans, exported] = yield* Effect.gen(function*() {
          yield* program
          yield* Effect.promise(() => metricReader.forceFlush())
          // Read before the layer is released: shutting the tracer provider down empties the in-memory span exporter,
          // and shutting the reader down exports the (cumulative) metrics once more.
          return [spanExporter.getFinishedSpans().map(spanRecord), [...metricExporter.getMetrics()]] as const
        }).pipe(
          Effect.provide(Telemetry),
          // A registry of our own, seen by the program's metric updates and by the producer the layer builds.
          Effect.provideService(Metric.MetricRegistry, new Map())
        )

        // --- spans
        const sandkit = spans.filter((s) => s.name.startsWith("sandkit."))
        const names = new Set(sandkit.map((s) => s.name))
        for (const name of ["sandkit.create", "sandkit.exec", "sandkit.files.write", "sandkit.files.readText", "sandkit.files.read", "sandkit.destroy"]) {
          assert.isTrue(names.has(name), `span ${name} exported (got ${[...names].join(", ")})`)
        }
        const root = spans.find((s) => s.name === "test.root")!
        const sandboxId = sandkit.find((s) => s.name === "sandkit.create" && s.attributes["sandkit.outcome"] === "success")
          ?.attributes["sandkit.sandbox"]
        assert.isString(sandboxId)
        for (const span of sandkit) {
          assert.strictEqual(span.attributes["sandkit.provider"], "e2b", span.name)
          assert.strictEqual(span.attributes["sandkit.operation"], span.name.slice("sandkit.".length))
          assert.isString(span.attributes["sandkit.outcome"], `${span.name} has an outcome`)
          assert.strictEqual(span.traceId, root.traceId, `${span.name} is in the program's trace`)
          if (span.name !== "sandkit.create") assert.strictEqual(span.attributes["sandkit.sandbox"], sandboxId, span.name)
        }
        // Operations called by the program are children of its span; the destroy run by the handle is too.
        for (const name of ["sandkit.create", "sandkit.exec", "sandkit.files.write", "sandkit.destroy"]) {
          assert.isTrue(sandkit.some((s) => s.name === name && s.parentSpanId === root.spanId), `${name} is a child of test.root`)
        }
        const outcome = (name: string) => sandkit.filter((s) => s.name === name).map((s) => s.attributes["sandkit.outcome"])
        assert.deepStrictEqual(outcome("sandkit.create"), ["success", "RateLimited"])
        assert.deepStrictEqual(outcome("sandkit.files.read"), ["FileNotFound"])
        assert.deepStrictEqual(outcome("sandkit.exec"), ["success", "CommandTimeout"])
        assert.deepStrictEqual(outcome("sandkit.files.write"), ["success"], "a retried call is one span")
        const failedRead = sandkit.find((s) => s.name === "sandkit.files.read")!
        assert.strictEqual(failedRead.status.code, 2, "ERROR status on a failed operation")
        const keys = new Set(sandkit.flatMap((s) => Object.keys(s.attributes)))
        assert.deepStrictEqual([...keys].sort(), ["sandkit.operation", "sandkit.outcome", "sandkit.provider", "sandkit.sandbox"])

        // --- metrics
        assert.strictEqual(exported.length, 1, "one collection, one export")
        const all = points(exported)
        const metricNames = new Set(all.map((p) => p.metric))
        for (const name of ["sandkit.sandboxes.created", "sandkit.operation.failures", "sandkit.operation.retries", "sandkit.operation.duration"]) {
          assert.isTrue(metricNames.has(name), `metric ${name} exported (got ${[...metricNames].join(", ")})`)
        }
        assert.strictEqual(sumOf(all, "sandkit.sandboxes.created", { provider: "e2b" }), 1)
        assert.strictEqual(sumOf(all, "sandkit.operation.failures", { operation: "create", error: "RateLimited" }), 1)
        assert.strictEqual(sumOf(all, "sandkit.operation.failures", { operation: "files.read", error: "FileNotFound" }), 1)
        assert.strictEqual(sumOf(all, "sandkit.operation.failures", { operation: "exec", error: "CommandTimeout" }), 1)
        assert.strictEqual(sumOf(all, "sandkit.operation.retries", { provider: "e2b", operation: "create" }), 2, "fastPolicy(2): two retries")
        assert.strictEqual(sumOf(all, "sandkit.operation.retries", { operation: "files.write" }), 1)
        const durations = all.filter((p) => p.metric === "sandkit.operation.duration")
        assert.isTrue(durations.every((p) => p.type === DataPointType.HISTOGRAM), "duration is a histogram")
        const countOf = (where: Readonly<Record<string, string>>) =>
          durations
            .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
            .reduce((n, p) => n + (p.value as { count: number }).count, 0)
        assert.strictEqual(countOf({ operation: "exec", outcome: "success" }), 1)
        assert.strictEqual(countOf({ operation: "create", outcome: "RateLimited" }), 1)
        assert.strictEqual(countOf({ operation: "files.read", outcome: "FileNotFound" }), 1)

        // --- nothing secret anywhere in what was exported
        const everything = JSON.stringify({ spans, metrics: exported }, (_key, value) => typeof value === "bigint" ? String(value) : value)
        for (const secret of [E2B_KEY, ENV_SECRET, COMMAND_SECRET, FILE_SECRET]) assert.notInclude(everything, secret)
        assert.include(everything, "sandkit.create", "the search ran over real exported data")
        assert.include(everything, "exception.message", "… including the failed operations' exception events")

        assert.deepStrictEqual(clouds.e2b.registry.ids(), [], "nothing left on the emulator")
      }))
  })
})
