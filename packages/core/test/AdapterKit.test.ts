import { assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import { CommandOutput, isLostConnection, OutputCollector, parseRetryAfter, redactSecrets } from "../src/index.ts"

describe("OutputCollector", () => {
  it("keeps up to the limit, drops the rest and says so", () => {
    const c = new OutputCollector(5)
    c.push("abc")
    assert.isFalse(c.truncated)
    c.push(new TextEncoder().encode("defg"))
    c.push("")
    assert.strictEqual(c.text(), "abcde")
    assert.isTrue(c.truncated)
    const exact = new OutputCollector(3)
    exact.push("abc")
    exact.push("")
    assert.isFalse(exact.truncated, "an empty chunk past a full buffer drops nothing")
  })
})

describe("CommandOutput", () => {
  it("builds the ExecResult: both streams capped apart, truncated if either was, a non-negative duration", () => {
    const output = new CommandOutput(4)
    output.stdout.push("out")
    output.stderr.push("error!")
    const result = output.result(3)
    assert.strictEqual(result.exitCode, 3)
    assert.strictEqual(result.stdout, "out")
    assert.strictEqual(result.stderr, "erro")
    assert.isTrue(result.truncated)
    assert.isAtLeast(result.durationMs, 0)
    const small = new CommandOutput(16)
    small.stdout.push("fits")
    assert.isFalse(small.result(0).truncated)
  })
})

describe("parseRetryAfter", () => {
  it("reads seconds, fractions and HTTP dates; ignores the rest", () => {
    assert.deepStrictEqual(parseRetryAfter("3"), Duration.millis(3000))
    assert.deepStrictEqual(parseRetryAfter(" 1.5 "), Duration.millis(1500))
    const now = Date.parse("Mon, 23 Nov 2026 10:00:00 GMT")
    assert.deepStrictEqual(parseRetryAfter("Mon, 23 Nov 2026 10:00:07 GMT", now), Duration.millis(7000))
    assert.deepStrictEqual(parseRetryAfter("Mon, 23 Nov 2026 09:00:00 GMT", now), Duration.millis(0))
    for (const bad of [undefined, null, "", "soon", "-1", 5]) assert.isUndefined(parseRetryAfter(bad))
  })
})

describe("redactSecrets", () => {
  it("removes known secrets and key shapes, and leaves short values alone", () => {
    const text = "key sk-live-123456 token abc Bearer xyz.123 and e2b_abcdefgh1234"
    const out = redactSecrets(text, ["sk-live-123456", "abc"], [/e2b_[A-Za-z0-9]{8,}/g, [/(Bearer\s+)\S+/g, "$1<redacted>"]])
    assert.strictEqual(out, "key <redacted> token abc Bearer <redacted> and <redacted>")
  })
})

describe("isLostConnection", () => {
  it("finds a dropped connection in the message, code or type of the error or of a cause below it", () => {
    assert.isTrue(isLostConnection(new TypeError("fetch failed")))
    assert.isTrue(isLostConnection({ code: "ECONNRESET" }))
    assert.isTrue(isLostConnection({ type: "system", message: "x", cause: { cause: Object.assign(new Error("read"), { code: "EPIPE" }) } }))
    assert.isTrue(isLostConnection({ message: "stream was closed" }, ["stream was closed"]), "a provider's own marker")
  })
  it("is false for other failures, for non-objects and below 5 levels of causes", () => {
    assert.isFalse(isLostConnection(new Error("404 not found")))
    assert.isFalse(isLostConnection("ECONNRESET"), "a bare string is not an error object")
    assert.isFalse(isLostConnection(undefined))
    assert.isFalse(isLostConnection({ message: "stream was closed" }), "not a marker unless the provider says so")
    let deep: unknown = { code: "ECONNRESET" }
    for (let i = 0; i < 5; i++) deep = { message: "wrapped", cause: deep }
    assert.isFalse(isLostConnection(deep))
  })
})
