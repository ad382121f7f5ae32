/**
 * A tiny real run on the local provider, in-process: then `results.json` must recompute to the printed table, hold
 * every raw sample and the environment, and contain no secret.
 */
import { SandboxProvider } from "@sandkit/core"
import { LocalProvider } from "@sandkit/local"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { BenchConfig } from "../src/args.ts"
import { type BenchOutcome, runBench } from "../src/bench.ts"
import { metricIds } from "../src/metrics.ts"
import { silentProgress } from "../src/progress.ts"
import { cloudAdapters, registry } from "../src/providers.ts"
import { renderTable } from "../src/report/table.ts"
import { computeScores, reportedMetrics, type ResultsFile, summarizeSamples } from "../src/results.ts"

const SECRET = "sk-bench-test-secret-value"

describe("a 2-iteration local run", () => {
  let dir: string
  let outcome: BenchOutcome
  let printed = ""
  let json: ResultsFile
  let markdown: string
  let svg: string

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sandkit-bench-test-"))
    const root = join(dir, "root")
    const config: BenchConfig = {
      providers: [],
      iterations: 2,
      bursts: 1,
      concurrency: [1, 3],
      warmup: 1,
      metrics: metricIds,
      outDir: join(dir, "out"),
      seed: 12345,
      baseline: "raw",
      emulate: true,
      selfCheck: false,
      injectMs: 150,
      runId: "rbenchtest01"
    }
    // The registry as shipped, with local pointed at a root of its own.
    // The registry with the clouds' layers taken out (as before their adapters landed), so this run stays on local
    // and the E2B key below is noticed, reported, and never used or written anywhere.
    const notLanded = cloudAdapters.map(({ provider, credentials, adapterPackage }) => ({ provider, credentials, adapterPackage }))
    const entries = registry(notLanded).map((e) => (e.name === "local" ? { ...e, layer: () => LocalProvider.layer({ root }) } : e))
    outcome = await Effect.runPromise(runBench({
      config,
      // A credential in the environment: it must be noticed (adapter not landed) but never written anywhere.
      env: { E2B_API_KEY: SECRET },
      entries,
      progress: silentProgress,
      print: (text) => (printed += text)
    }))
    json = JSON.parse(readFileSync(outcome.files.json, "utf8")) as ResultsFile
    markdown = readFileSync(outcome.files.markdown, "utf8")
    svg = readFileSync(outcome.files.svg, "utf8")
  }, 60_000)

  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("recomputes the printed table from the raw samples in results.json", () => {
    const metrics = reportedMetrics(json.config.metrics, json.config.concurrency)
    const summary = summarizeSamples(json.samples, json.targets.map((t) => t.key), metrics)
    const scores = computeScores(summary)
    expect(summary).toEqual(json.summary)
    expect(scores).toEqual(json.scores)
    const table = renderTable({ ...json, summary, scores })
    expect(table).toBe(outcome.table)
    expect(printed).toContain(table)
  })

  it("keeps every raw sample: warm-up apart, each metric for each sandbox", () => {
    const count = (phase: string, c: number, target: string, metric: string) =>
      json.samples.filter((s) => s.phase === phase && s.concurrency === c && s.target === target && s.metric === metric).length
    for (const target of ["local", "local:raw"]) {
      for (const metric of metricIds) {
        // The raw baseline has no snapshots: no "TTI from snapshot" samples for it.
        if (target === "local:raw" && metric === "tti-snapshot") {
          expect(count("measured", 1, target, metric)).toBe(0)
          continue
        }
        expect(count("warmup", 1, target, metric)).toBe(1)
        expect(count("measured", 1, target, metric)).toBe(2)
        expect(count("measured", 3, target, metric)).toBe(3)
      }
      expect(count("measured", 3, target, "burst-ready")).toBe(1)
    }
    expect(json.samples.every((s) => (s.ok ? typeof s.ms === "number" && s.ms >= 0 : s.error !== undefined))).toBe(true)
    expect(json.status).toBe("complete")
  })

  it("labels the raw baseline and records the environment without secrets", () => {
    expect(json.targets.map((t) => [t.key, t.label, t.kind, t.variant])).toEqual([
      ["local", "local", "local", "sandkit"],
      ["local:raw", "local (raw baseline)", "local", "raw"]
    ])
    const env = json.environment
    expect(env.seed).toBe(12345)
    expect(env.runtime.name).toBe("node")
    expect(env.cpu.cores).toBeGreaterThan(0)
    expect(["bubblewrap", "namespaces", "process"]).toContain(env.isolation.local)
    for (const text of [JSON.stringify(json), markdown, svg, printed]) {
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(process.env.PATH ?? "\u0000")
    }
    expect(json.unavailable.map((u) => u.name)).toContain("e2b-emulated")
  })

  it("finds no leak, and the local provider lists nothing under the run label", async () => {
    expect(json.leaks.map((l) => [l.target, l.found.length])).toEqual([["local", 0], ["local:raw", 0]])
    const left = await Effect.runPromise(
      Effect.gen(function*() {
        const provider = yield* SandboxProvider
        return yield* provider.list({ labels: { "sandkit.run": "rbenchtest01" } })
      }).pipe(Effect.provide(LocalProvider.layer({ root: join(dir, "root") })))
    )
    expect(left).toEqual([])
  })

  it("writes a Markdown report and an SVG chart", () => {
    expect(markdown).toContain("# Sandkit bench")
    expect(markdown).toContain("## Concurrent bursts of 3")
    expect(markdown).toContain("order statistics")
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg).toContain("time to interactive")
    expect(svg).toContain("local (raw baseline)")
  })
})

