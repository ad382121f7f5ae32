/**
 * The pure parts: durations, tables, error lines and hints, redaction, the provider registry's checks.
 */
import { AuthenticationFailed, CommandTimeout, InvalidRequest, ProviderError, RateLimited, SandboxNotFound } from "@sandkit/core"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { hintContext } from "../src/cli.ts"
import {
  AdapterNotInstalled,
  exitCodeOf,
  headline,
  makeRedactor,
  renderFailure,
  UsageError
} from "../src/errors.ts"
import { formatAge, formatLabels, parseDuration, plural, sandboxJson, table } from "../src/format.ts"
import {
  clouds,
  localEntry,
  missingCredentials,
  precheck,
  registry,
  selectTargets,
  shortReason,
  targetFor,
  targetLabel
} from "../src/providers.ts"

describe("durations", () => {
  it("parses the usual shorthands, long units and bare seconds", () => {
    expect(parseDuration("30s")).toBe(30_000)
    expect(parseDuration("2h")).toBe(7_200_000)
    expect(parseDuration("1h30m")).toBe(5_400_000)
    expect(parseDuration("500ms")).toBe(500)
    expect(parseDuration("1.5h")).toBe(5_400_000)
    expect(parseDuration("2d")).toBe(172_800_000)
    expect(parseDuration("2 hours")).toBe(7_200_000)
    expect(parseDuration("45")).toBe(45_000)
    expect(parseDuration(" 10M ")).toBe(600_000)
  })

  it("rejects what is not a positive duration", () => {
    for (const bad of ["", "soon", "0s", "-5s", "5x", "h", "1h 30m", "NaN", "1e3s"]) {
      expect(() => parseDuration(bad), bad).toThrow(/is not a duration/)
    }
  })

  it("formats ages with the two largest units", () => {
    expect(formatAge(0)).toBe("0s")
    expect(formatAge(59_999)).toBe("59s")
    expect(formatAge(61_000)).toBe("1m")
    expect(formatAge(3_600_000)).toBe("1h")
    expect(formatAge(3_720_000)).toBe("1h2m")
    expect(formatAge(86_400_000 * 3 + 3_600_000 * 5)).toBe("3d5h")
    expect(formatAge(-5)).toBe("0s")
  })
})

describe("tables and JSON", () => {
  it("pads every column but the last", () => {
    expect(table(["A", "LONGER"], [["xyz", "1"], ["", "22"]])).toBe("A    LONGER\nxyz  1\n     22\n")
    expect(formatLabels({ b: "2", a: "1" })).toBe("a=1,b=2")
    expect(formatLabels({})).toBe("-")
    expect(plural(1, "sandbox")).toBe("1 sandbox")
    expect(plural(2, "sandbox")).toBe("2 sandboxes")
    expect(plural(0, "provider")).toBe("0 providers")
  })

  it("the ls --json shape", () => {
    const createdAt = new Date("2026-01-01T00:00:00Z")
    expect(
      sandboxJson(
        { id: "x1", provider: "local", state: "running", labels: { "sandkit.owner": "me" }, createdAt, workdir: "/w", orphaned: true },
        createdAt.getTime() + 90_500,
        false
      )
    ).toEqual({
      provider: "local",
      emulated: false,
      id: "x1",
      name: null,
      state: "running",
      createdAt: "2026-01-01T00:00:00.000Z",
      ageSeconds: 90,
      expiresAt: null,
      image: null,
      labels: { "sandkit.owner": "me" },
      orphaned: true,
      sandkit: true
    })
  })
})

describe("failures", () => {
  const hints = hintContext("sandkit exec")

  it("one line `<Tag> (<provider>): <message>` plus a hint", () => {
    const auth = new AuthenticationFailed({ provider: "e2b", message: "invalid API key" })
    expect(renderFailure(auth, hints, { verbose: false })).toBe(
      "AuthenticationFailed (e2b): invalid API key\nhint: check E2B_API_KEY, or add --emulate to try the offline emulator\n"
    )
    const modal = new AuthenticationFailed({ provider: "modal", message: "denied" })
    expect(renderFailure(modal, hints, { verbose: false })).toContain("hint: check MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")
    expect(headline(new SandboxNotFound({ provider: "local", sandboxId: "local-1", message: "gone\n  really" })))
      .toBe("SandboxNotFound (local): gone; really [local-1]")
    expect(renderFailure(new UsageError({ message: "bad", command: "sandkit ls" }), hints, { verbose: false }))
      .toBe("UsageError: bad\nhint: see 'sandkit ls --help'\n")
    const limited = new RateLimited({ provider: "e2b", message: "slow down", retryAfter: Duration.seconds(3) })
    expect(renderFailure(limited, hints, { verbose: false })).toContain("retry in 3s")
  })

  it("--verbose adds the cause chain", () => {
    const error = new ProviderError({ provider: "e2b", message: "boom", cause: new Error("socket hang up", { cause: "ECONNRESET" }) })
    expect(renderFailure(error, hints, { verbose: false })).not.toContain("socket hang up")
    expect(renderFailure(error, hints, { verbose: true })).toContain("  caused by: Error: socket hang up\n  caused by: ECONNRESET")
    // Adapters keep causes as plain { name, message, status? } objects (scrubbed of keys).
    const plain = new ProviderError({ provider: "e2b", message: "e2b list: 503", cause: { name: "HttpError", message: "no capacity", status: 503 } })
    const rendered = renderFailure(plain, hints, { verbose: true })
    expect(rendered).toContain("  caused by: HttpError (503): no capacity")
    expect(rendered).not.toContain("[object Object]")
  })

  it("exit codes: usage 2, timeout 124, the rest 1", () => {
    expect(exitCodeOf(new UsageError({ message: "x" }))).toBe(2)
    expect(exitCodeOf(new InvalidRequest({ provider: "local", message: "x" }))).toBe(2)
    expect(exitCodeOf(new CommandTimeout({ provider: "local", message: "x", timeoutMs: 1 }))).toBe(124)
    expect(exitCodeOf(new AuthenticationFailed({ provider: "e2b", message: "x" }))).toBe(1)
    expect(exitCodeOf(new AdapterNotInstalled({ provider: "modal", packageName: "@sandkit/modal", reason: "missing", message: "x" })))
      .toBe(1)
  })

  it("redacts every credential value, longest first", () => {
    const redact = makeRedactor({ E2B_API_KEY: "sk-abcdef", OTHER: "sk-abcdef-longer", SHORT: "ab" }, ["E2B_API_KEY", "OTHER", "SHORT"])
    expect(redact("key sk-abcdef-longer and sk-abcdef, ab stays")).toBe("key <redacted> and <redacted>, ab stays")
  })
})

describe("the registry", () => {
  it("local and the four clouds, each with credentials, a live layer and an emulated one", () => {
    expect(registry.map((e) => e.provider)).toEqual(["local", "e2b", "daytona", "modal", "runloop"])
    expect(Object.fromEntries(clouds.map((c) => [c.provider, c.credentials]))).toEqual({
      e2b: ["E2B_API_KEY"],
      daytona: ["DAYTONA_API_KEY"],
      modal: ["MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"],
      runloop: ["RUNLOOP_API_KEY"]
    })
    for (const cloud of clouds) expect(typeof cloud.live, cloud.provider).toBe("function")
  })

  it("prechecks: credentials by presence only; local needs none; emulated needs no credentials", () => {
    const e2b = clouds[0]!
    expect(missingCredentials(e2b, {})).toEqual(["E2B_API_KEY"])
    expect(missingCredentials(e2b, { E2B_API_KEY: "" })).toEqual(["E2B_API_KEY"])
    const failure = precheck(targetFor(e2b, false), {})
    expect(failure?._tag).toBe("AuthenticationFailed")
    expect(shortReason(failure!)).toBe("E2B_API_KEY not set")
    expect(precheck(targetFor(e2b, false), { E2B_API_KEY: "x" })).toBeUndefined()
    expect(precheck(targetFor(e2b, true), {})).toBeUndefined()
    expect(precheck(targetFor(localEntry, true), {})).toBeUndefined()
    expect(targetLabel(targetFor(e2b, true))).toBe("e2b (emulated)")
    expect(targetLabel(targetFor(localEntry, true))).toBe("local")
  })

  it("a cloud with no emulator wiring says so under --emulate", () => {
    const bare = { ...clouds[1]!, emulated: undefined }
    const failure = precheck(targetFor(bare, true), {})
    expect(failure?._tag).toBe("AdapterNotInstalled")
    expect(shortReason(failure!)).toBe("no emulator yet")
  })

  it("an adapter package that cannot be found is 'adapter not installed'", async () => {
    const { importAdapter } = await import("../src/providers.ts")
    const result = await Effect.runPromise(Effect.flip(importAdapter("nope", "@sandkit/not-a-package", "NopeProvider")))
    expect(result.reason).toBe("missing")
    expect(shortReason(result)).toBe("adapter not installed (@sandkit/not-a-package)")
  })

  it("selects the named providers (comma or repeated), all by default; unknown names are usage errors", async () => {
    const pick = (names: ReadonlyArray<string>, emulate = false) =>
      Effect.runPromise(selectTargets(names, { emulate, command: "sandkit ls" }))
    expect((await pick([])).targets.map(targetLabel)).toEqual(["local", "e2b", "daytona", "modal", "runloop"])
    expect((await pick([])).explicit).toBe(false)
    expect((await pick(["e2b,local", "e2b"], true)).targets.map(targetLabel)).toEqual(["e2b (emulated)", "local"])
    const error = await Effect.runPromise(Effect.flip(selectTargets(["nope"], { emulate: false, command: "sandkit ls" })))
    expect(error.message).toBe('unknown provider "nope" (known: local, e2b, daytona, modal, runloop)')
  })
})

describe("doctor's report", () => {
  it("says why the better isolation tiers were skipped, and what to install", async () => {
    const { renderDoctor } = await import("../src/commands/doctor.ts")
    const text = renderDoctor({
      cli: "0.1.0",
      runtime: { name: "Node.js", version: "24.0.0", platform: "linux", arch: "x64" },
      local: {
        ok: true,
        root: "/var/lib/sandkit",
        requested: "auto",
        isolation: "process",
        sandboxes: 2,
        tiers: [
          { tier: "bubblewrap", works: false, reason: "bwrap is not installed" },
          { tier: "namespaces", works: false, reason: "unshare: user namespaces are disabled" }
        ]
      },
      clouds: [{
        provider: "e2b",
        adapter: { package: "@sandkit/e2b", installed: false, reason: "adapter not installed (@sandkit/e2b)" },
        credentials: [{ name: "E2B_API_KEY", set: true }],
        settings: [{ name: "E2B_API_URL", set: true }],
        live: { ready: false, reason: "adapter not installed (@sandkit/e2b)" },
        emulator: { available: false, reason: "adapter not installed (@sandkit/e2b)" }
      }],
      packages: { "@sandkit/core": "0.1.0", "@sandkit/local": "0.1.0" }
    })
    expect(text).toContain("  isolation  process (best tier that works here)\n")
    expect(text).toContain("  root       /var/lib/sandkit (2 sandboxes)\n")
    expect(text).toContain("  bubblewrap skipped: bwrap is not installed\n")
    expect(text).toContain("  namespaces skipped: unshare: user namespaces are disabled\n")
    expect(text).toContain("not a security boundary; installing bubblewrap")
    expect(text).toMatch(/e2b\s+not installed \(@sandkit\/e2b\)\s+E2B_API_KEY set \(value hidden\)\s+adapter not installed/)
    expect(text).toContain("also set: E2B_API_URL")
  })
})
