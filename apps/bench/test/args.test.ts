import { SandboxProvider } from "@sandkit/core"
import { assert, describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { ArgumentError, defaultOutDir, parseConcurrency, parseMetrics, parseProviders, parseSeed } from "../src/args.ts"
import { injectLatency } from "../src/latency.ts"
import { metricIds } from "../src/metrics.ts"
import { type CloudAdapter, cloudAdapters, registry, selectProviders } from "../src/providers.ts"
import { computeSelfCheck, type SummaryRow, type TargetInfo } from "../src/results.ts"

describe("flag parsing", () => {
  it("concurrency levels: sorted, de-duplicated, positive", () => {
    expect(parseConcurrency("1,10,50")).toEqual([1, 10, 50])
    expect(parseConcurrency(" 50, 1,10,1 ")).toEqual([1, 10, 50])
    expect(() => parseConcurrency("0")).toThrow(ArgumentError)
    expect(() => parseConcurrency("1,x")).toThrow(ArgumentError)
    expect(() => parseConcurrency("")).toThrow(ArgumentError)
  })

  it("metrics: a subset in canonical order, or all", () => {
    expect(parseMetrics("destroy,create")).toEqual(["create", "destroy"])
    expect(parseMetrics("all")).toEqual(metricIds)
    expect(() => parseMetrics("create,boot")).toThrow(/unknown metric "boot"/)
  })

  it("providers, seed and the default output directory", () => {
    expect(parseProviders("local, e2b,local")).toEqual(["local", "e2b"])
    expect(() => parseProviders("local;rm")).toThrow(ArgumentError)
    expect(parseSeed("4294967295")).toBe(4294967295)
    expect(() => parseSeed("-1")).toThrow(ArgumentError)
    expect(defaultOutDir(new Date("2026-05-04T10:11:12.345Z"))).toBe("bench-results/2026-05-04T10-11-12Z")
  })
})

describe("provider registry", () => {
  // The registry with the clouds' layers taken out, as before their adapters landed: no cloud is started here.
  const notLanded = cloudAdapters.map(({ provider, credentials, adapterPackage }) => ({ provider, credentials, adapterPackage }))
  const entries = registry(notLanded)

  it("runs local alone by default, and says why each cloud is skipped", () => {
    const selection = selectProviders(entries, { providers: [], emulate: false, env: {} })
    expect(selection.entries.map((e) => e.name)).toEqual(["local"])
    expect(selection.unavailable.map((u) => `${u.name}: ${u.reason}`)).toEqual([
      "e2b: E2B_API_KEY not set",
      "daytona: DAYTONA_API_KEY not set",
      "modal: MODAL_TOKEN_ID and MODAL_TOKEN_SECRET not set",
      "runloop: RUNLOOP_API_KEY not set"
    ])
  })

  it("with --emulate lists the emulated clouds that are not available yet", () => {
    const selection = selectProviders(entries, { providers: [], emulate: true, env: {} })
    expect(selection.unavailable.filter((u) => u.kind === "emulated").map((u) => u.name)).toEqual([
      "e2b-emulated",
      "daytona-emulated",
      "modal-emulated",
      "runloop-emulated"
    ])
  })

  it("credentials without an adapter are reported, and the value never appears", () => {
    const secret = "sk-test-do-not-print"
    const selection = selectProviders(entries, { providers: ["e2b"], emulate: false, env: { E2B_API_KEY: secret } })
    expect(selection.entries).toEqual([])
    expect(selection.unavailable[0]!.reason).toMatch(/adapter \(@sandkit\/e2b\) has not landed/)
    expect(JSON.stringify(selection)).not.toContain(secret)
  })

  it("a cloud whose adapter is plugged in runs when its credentials are set", () => {
    const fake = Layer.succeed(SandboxProvider, {} as SandboxProvider["Service"])
    const adapters: ReadonlyArray<CloudAdapter> = cloudAdapters.map((a) =>
      a.provider === "modal" ? { ...a, live: () => fake, emulated: () => fake } : a
    )
    const withModal = registry(adapters)
    const env = { MODAL_TOKEN_ID: "id", MODAL_TOKEN_SECRET: "secret" }
    expect(selectProviders(withModal, { providers: [], emulate: false, env }).entries.map((e) => e.name)).toEqual(["local", "modal"])
    expect(selectProviders(withModal, { providers: ["modal"], emulate: true, env: {} }).entries.map((e) => `${e.name}:${e.kind}`))
      .toEqual(["modal-emulated:emulated"])
    expect(selectProviders(withModal, { providers: ["modal"], emulate: false, env: { MODAL_TOKEN_ID: "id" } }).unavailable[0]!.reason)
      .toBe("MODAL_TOKEN_SECRET not set")
  })

  it("as shipped, every cloud runs emulated with --emulate, and the composed column only when asked for", () => {
    const shipped = registry()
    expect(selectProviders(shipped, { providers: [], emulate: true, env: {} }).entries.map((e) => e.name)).toEqual([
      "local",
      "e2b-emulated",
      "daytona-emulated",
      "modal-emulated",
      "runloop-emulated"
    ])
    expect(selectProviders(shipped, { providers: ["composed"], emulate: false, env: {} }).entries.map((e) => e.name))
      .toEqual(["composed"])
  })

  it("rejects unknown names", () => {
    expect(() => selectProviders(entries, { providers: ["nope"], emulate: false, env: {} })).toThrow(/unknown provider nope/)
  })
})

describe("latency injection", () => {
  it.effect("delays create by exactly the injected time (Effect.sleep, driven by the test clock)", () =>
    Effect.gen(function*() {
      let created = 0
      const base = {
        name: "fake",
        createDetached: () => Effect.sync(() => ++created)
      } as unknown as SandboxProvider["Service"]
      const slow = injectLatency(base, { create: "150 millis" })
      const fiber = yield* Effect.forkChild(slow.createDetached())
      yield* TestClock.adjust("149 millis")
      assert.strictEqual(created, 0)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(fiber)
      assert.strictEqual(created, 1)
    }))
})

describe("self-check verdict", () => {
  const targets: Array<TargetInfo> = [
    { key: "local", label: "local", provider: "local", kind: "local", variant: "sandkit", details: {} },
    { key: "local+150ms", label: "local (+150 ms injected)", provider: "local", kind: "local", variant: "injected", details: {} }
  ]
  const row = (target: string, p50: number): SummaryRow => ({
    target,
    phase: "measured",
    concurrency: 1,
    metric: "create",
    attempts: 10,
    failures: {},
    successRate: 1,
    stats: { n: 10, min: p50, p50, p95: p50, p99: p50, max: p50, mean: p50, sd: 0, medianCI: undefined }
  })

  it("passes within ±5 % of injected + own p50 and fails outside", () => {
    const ok = computeSelfCheck([row("local", 10), row("local+150ms", 160 * 1.049)], targets, 150)
    expect(ok.pass).toBe(true)
    expect(ok.rows[0]!.expected).toBe(160)
    const bad = computeSelfCheck([row("local", 10), row("local+150ms", 160 * 1.051)], targets, 150)
    expect(bad.pass).toBe(false)
    expect(computeSelfCheck([row("local", 10)], targets, 150).pass).toBe(false)
  })
})
