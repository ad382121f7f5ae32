import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/index.ts", "src/e2b/index.ts", "src/daytona/index.ts", "src/runloop/index.ts", "src/modal/index.ts", "src/testkit.ts", "src/overhead.ts"],
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "es2022"
})
