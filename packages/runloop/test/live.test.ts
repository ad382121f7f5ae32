/**
 * The conformance suite against the real Runloop, opt-in: runs only when `RUNLOOP_API_KEY` is set (optionally
 * `RUNLOOP_BASE_URL`). Every devbox it creates carries the `conformance` label and is shut down by the check that
 * created it; a crashed run is cleaned up with `reap({ labels: { conformance: … } })`.
 */
import { describeConformance } from "@sandkit/conformance/vitest"
import { describe, it } from "vitest"
import { RunloopProvider } from "../src/index.ts"

const apiKey = process.env["RUNLOOP_API_KEY"]

if (apiKey === undefined || apiKey === "") {
  console.log("runloop (live): skipped, RUNLOOP_API_KEY is not set (set it to run the conformance suite against real Runloop)")
  describe.skip("runloop (live)", () => {
    it("needs RUNLOOP_API_KEY", () => {})
  })
} else {
  // Real devboxes boot in seconds and every call crosses the internet: more time per check, short lifetimes.
  describeConformance("runloop (live)", RunloopProvider.layerConfig(), {
    label: "sandkit-runloop-live",
    timeout: "5 minutes"
  })
}
