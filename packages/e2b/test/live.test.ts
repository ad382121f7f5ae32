/**
 * The conformance suite against the real E2B, opt-in: runs only when `E2B_API_KEY` is set (optionally
 * `E2B_DOMAIN`, `E2B_API_URL`, `E2B_SANDBOX_URL`). Every sandbox it creates carries the `conformance` label and is
 * destroyed by the check that created it.
 */
import { describeConformance } from "@sandkit/conformance/vitest"
import { describe, it } from "vitest"
import { E2bProvider } from "../src/index.ts"

const apiKey = process.env["E2B_API_KEY"]

if (apiKey === undefined || apiKey === "") {
  console.log("e2b (live): skipped, E2B_API_KEY is not set (set it to run the conformance suite against real E2B)")
  describe.skip("e2b (live)", () => {
    it("needs E2B_API_KEY", () => {})
  })
} else {
  // Real sandboxes boot in about a second, but commands and files cross the internet: allow more time per check.
  describeConformance("e2b (live)", E2bProvider.layerConfig({ defaultLifetime: "10 minutes" }), {
    label: "sandkit-e2b-live",
    timeout: "3 minutes"
  })
}
