import { library } from "../../tsup.shared.ts"

export default library(["src/index.ts", "src/e2b/index.ts", "src/daytona/index.ts", "src/runloop/index.ts", "src/modal/index.ts", "src/testkit.ts", "src/overhead.ts"])
