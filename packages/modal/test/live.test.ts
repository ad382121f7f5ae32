/**
 * The conformance suite against the real Modal, opt-in: runs only when `MODAL_TOKEN_ID` and `MODAL_TOKEN_SECRET` are
 * set (optionally `MODAL_ENVIRONMENT`, `MODAL_SERVER_URL`). The user's `~/.modal.toml` is not read. Sandboxes go to the
 * App `sandkit-conformance`, carry the `conformance` label, live at most 10 minutes, and are destroyed by the check
 * that created them.
 */
import { describeConformance } from "@sandkit/conformance/vitest"
import { describe, it } from "vitest"
import { ModalProvider } from "../src/index.ts"

const tokenId = process.env["MODAL_TOKEN_ID"]
const tokenSecret = process.env["MODAL_TOKEN_SECRET"]

if (tokenId === undefined || tokenId === "" || tokenSecret === undefined || tokenSecret === "") {
  console.log("modal (live): skipped, MODAL_TOKEN_ID / MODAL_TOKEN_SECRET are not set (set both to run the conformance suite against real Modal)")
  describe.skip("modal (live)", () => {
    it("needs MODAL_TOKEN_ID and MODAL_TOKEN_SECRET", () => {})
  })
} else {
  // Cold starts and image pulls take seconds on Modal: allow more time per check.
  describeConformance("modal (live)", ModalProvider.layerConfig({ appName: "sandkit-conformance", defaultLifetime: "10 minutes" }), {
    label: "sandkit-modal-live",
    timeout: "5 minutes"
  })
}
