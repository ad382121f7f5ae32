/**
 * The conformance suite against the real Daytona, opt-in: runs only when `DAYTONA_API_KEY` is set (optionally
 * `DAYTONA_API_URL`, `DAYTONA_TARGET`). Every sandbox it creates carries the `conformance` label and is deleted by
 * the check that created it; auto-stop after 15 idle minutes is the safety net for a crashed run.
 */
import { describeConformance } from "@sandkit/conformance/vitest"
import { describe, it } from "vitest"
import { DaytonaProvider } from "../src/index.ts"

const apiKey = process.env["DAYTONA_API_KEY"]

if (apiKey === undefined || apiKey === "") {
  console.log("daytona (live): skipped, DAYTONA_API_KEY is not set (set it to run the conformance suite against real Daytona)")
  describe.skip("daytona (live)", () => {
    it("needs DAYTONA_API_KEY", () => {})
  })
} else {
  // Real sandboxes start in well under a second, but every call crosses the internet: allow more time per check.
  describeConformance("daytona (live)", DaytonaProvider.layerConfig({ autoStop: "15 minutes" }), {
    label: "sandkit-daytona-live",
    timeout: "3 minutes"
  })
}
