/**
 * The provider-independent parts: fault knobs, the request log, the registry over the local engine, the server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { drawLatency, Faults, HttpServer, QuotaReached, Registry, RequestLog } from "../src/index.ts"

describe("Faults", () => {
  it("failNext queues per route, in order, then passes", () => {
    const faults = new Faults()
    faults.rateLimitNext("create", { times: 2, retryAfter: 1 }).failNext("create", { status: 503 })
    assert.strictEqual(faults.remaining("create"), 3)
    const decisions = Array.from({ length: 4 }, () => faults.decide("create"))
    assert.deepStrictEqual(decisions.map((d) => d._tag === "Fail" ? d.failure.status : d._tag), [429, 429, 503, "Pass"])
    assert.strictEqual(decisions[0]!._tag === "Fail" ? decisions[0]!.failure.retryAfter : undefined, 1)
    assert.strictEqual(faults.decide("kill")._tag, "Pass")
  })

  it("the \"*\" route applies after a route's own knobs", () => {
    const faults = new Faults()
    faults.resetNext("*").failNext("list", { status: 500 })
    assert.strictEqual(faults.decide("list")._tag, "Fail")
    assert.strictEqual(faults.decide("list")._tag, "Reset")
    assert.strictEqual(faults.decide("list")._tag, "Pass")
    faults.resetNext("x", { midStream: true, afterMs: 5 })
    assert.deepStrictEqual(faults.decide("x"), { _tag: "ResetAfterStart", afterMs: 5 })
  })

  it("latency: fixed, distributions, per route over \"*\", clear", () => {
    let n = 0
    const random = () => [0.25, 0.5, 0.75][n++ % 3]!
    assert.strictEqual(drawLatency(12), 12)
    assert.strictEqual(drawLatency({ fixed: 7 }), 7)
    assert.strictEqual(drawLatency({ uniform: [10, 20] }, random), 12.5)
    assert.strictEqual(drawLatency(() => -5), 0, "never negative")
    const exp = drawLatency({ exponential: { mean: 10 } }, () => 0.5)
    assert.closeTo(exp, 10 * Math.LN2, 1e-9)
    assert.isAtLeast(drawLatency({ normal: { mean: 100, stddev: 10 } }, random), 0)
    const faults = new Faults(random)
    faults.latency("*", 3).latency("create", { fixed: 9 })
    assert.strictEqual(faults.delayFor("create"), 9)
    assert.strictEqual(faults.delayFor("list"), 3)
    faults.clear()
    assert.strictEqual(faults.delayFor("create"), 0)
    assert.throws(() => faults.failNext("create", { status: 500, times: 0 }))
  })
})

describe("RequestLog", () => {
  it("counts per route and filters", () => {
    const log = new RequestLog()
    log.record({ route: "create", method: "POST", path: "/v2/sandboxes" }).status = 429
    log.record({ route: "create", method: "POST", path: "/v2/sandboxes" }).status = 201
    log.record({ route: "kill", method: "DELETE", path: "/sandboxes/a", sandboxId: "a" })
    assert.strictEqual(log.count("create"), 2)
    assert.strictEqual(log.count("create", (e) => e.status === 429), 1)
    assert.deepStrictEqual(log.counts(), { create: 2, kill: 1 })
    assert.deepStrictEqual(log.entries("kill").map((e) => [e.seq, e.sandboxId]), [[3, "a"]])
    log.clear()
    assert.strictEqual(log.entries().length, 0)
  })
})

describe("Registry (over the local engine)", () => {
  it.live("create runs a real local sandbox; destroy removes both; close destroys the rest", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make<{ readonly tag: string }>({ idPrefix: "t" })
      const sandbox = yield* Effect.promise(() => registry.create({ template: "base", env: { X: "1" }, ext: () => ({ tag: "x" }) }))
      assert.match(sandbox.id, /^t[a-z0-9]{20}$/)
      assert.strictEqual(sandbox.ext.tag, "x")
      const result = yield* sandbox.engine.exec("printf %s \"$X\"; pwd", {})
      assert.strictEqual(result.stdout, `1${sandbox.home}\n`)
      assert.isTrue(yield* Effect.promise(() => registry.destroy(sandbox.id)))
      assert.isFalse(yield* Effect.promise(() => registry.destroy(sandbox.id)), "a second destroy finds nothing")
      assert.isUndefined(registry.get(sandbox.id))
      const leftover = yield* Effect.promise(() => registry.create({ template: "base", ext: () => ({ tag: "y" }) }))
      yield* Effect.promise(() => registry.close())
      assert.deepStrictEqual(registry.removals.map((r) => r.reason), ["destroyed", "closed"])
      assert.strictEqual(registry.size, 0)
      assert.strictEqual((yield* Effect.exit(registry.engine.connect(leftover.engine.info.id)))._tag, "Failure")
    }))

  it.live("creates in flight when the registry closes leave nothing behind", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const registry = yield* Registry.make<null>().pipe(Scope.provide(scope))
      const inFlight = [1, 2, 3].map(() => registry.create({ template: "base", ext: () => null }).then(() => "created", () => "refused"))
      yield* Scope.close(scope, Exit.void)
      yield* Effect.promise(() => Promise.all(inFlight))
      assert.strictEqual(registry.size, 0)
      assert.deepStrictEqual(yield* registry.engine.list({}), [], "no local sandbox survived")
    }))

  it.live("knobs: quota, readiness delay, silent deletion, expiry", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make<null>()
      registry.setQuota(1, { message: "too many" })
      const first = yield* Effect.promise(() => registry.create({ template: "base", ext: () => null }))
      const refused = yield* Effect.promise(() => registry.create({ template: "base", ext: () => null }).then(() => undefined, (e: unknown) => e))
      assert.instanceOf(refused, QuotaReached)
      assert.strictEqual((refused as QuotaReached).failure.status, 429)
      registry.clearKnobs().setReadinessDelay(60_000)
      const slow = yield* Effect.promise(() => registry.create({ template: "base", ext: () => null }))
      assert.isTrue(registry.isReady(first))
      assert.isFalse(registry.isReady(slow))
      registry.deleteAfter(first.id, 1)
      const expiring = yield* Effect.promise(() => registry.create({ template: "base", timeoutMs: 1, ext: () => null }))
      for (let i = 0; i < 500 && (registry.get(first.id) !== undefined || registry.get(expiring.id) !== undefined); i++) {
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
      }
      const reasons = Object.fromEntries(registry.removals.map((r) => [r.id, r.reason]))
      assert.strictEqual(reasons[first.id], "deleted")
      assert.strictEqual(reasons[expiring.id], "expired")
      assert.deepStrictEqual(registry.ids(), [slow.id])
      registry.setState(slow.id, "paused")
      assert.strictEqual(registry.get(slow.id)?.state, "paused")
    }))

  it.live("the quota counts creates still in flight: 10 at once against a quota of 3 make exactly 3", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.make<null>()
      registry.setQuota(3)
      const outcomes = yield* Effect.promise(() =>
        Promise.all(Array.from({ length: 10 }, () => registry.create({ template: "base", ext: () => null }).then(() => "created", () => "refused")))
      )
      assert.strictEqual(outcomes.filter((o) => o === "created").length, 3)
      assert.strictEqual(registry.size, 3)
      assert.strictEqual(registry.peak, 3)
      yield* Effect.promise(() => Promise.all(registry.ids().map((id) => registry.destroy(id))))
      registry.resetPeak()
      assert.strictEqual(registry.peak, 0)
    }))
})

describe("HttpServer", () => {
  it.live("logs, delays, refuses and resets by route; 127.0.0.1 on a random port; closed with its scope", () =>
    Effect.gen(function*() {
      const faults = new Faults()
      const log = new RequestLog()
      const url = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* HttpServer.make({
          faults,
          log,
          dispatch: (_req, url) =>
            url.pathname === "/hello"
              ? { route: "hello", handle: async (_rq, res) => HttpServer.sendJson(res, 200, { hello: "world" }) }
              : undefined
        })
        assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
        const get = (path: string) => Effect.promise(() => fetch(`${server.url}${path}`).then(async (r) => [r.status, await r.text(), r.headers.get("retry-after")] as const, (e: unknown) => ["error", String(e), null] as const))
        assert.deepStrictEqual(yield* get("/hello"), [200, "{\"hello\":\"world\"}", null])
        faults.rateLimitNext("hello", { retryAfter: 2, message: "slow down" })
        assert.deepStrictEqual(yield* get("/hello"), [429, "{\"code\":429,\"message\":\"slow down\"}", "2"])
        faults.resetNext("hello")
        assert.strictEqual((yield* get("/hello"))[0], "error")
        assert.strictEqual((yield* get("/nowhere"))[0], 404)
        assert.deepStrictEqual(log.entries().map((e) => [e.route, e.status, e.fault]), [
          ["hello", 200, undefined],
          ["hello", 429, "fail"],
          ["hello", 0, "reset"],
          ["unknown", 404, undefined]
        ])
        return server.url
      }))
      const after = yield* Effect.promise(() => fetch(`${url}/hello`).then(() => "answered", () => "closed"))
      assert.strictEqual(after, "closed")
    }))
})
