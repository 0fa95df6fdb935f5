// Builds the strand binary the tests run (`strand dev`) once, into
// test/.bin/strand, unless STRAND_BIN names one already.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

if (!process.env.STRAND_BIN) {
  const root = fileURLToPath(new URL("../../..", import.meta.url));
  const out = fileURLToPath(new URL("./.bin/strand", import.meta.url));
  execFileSync("go", ["build", "-o", out, "./cmd/strand"], { cwd: root, stdio: "inherit" });
  console.log(`built ${path.relative(process.cwd(), out)}`);
}
