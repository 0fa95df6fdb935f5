// dist/ is committed, so that `npm install ./clients/typescript` needs no
// build (nor install scripts). This compiles src/ into a temp dir and fails
// if dist/ is not exactly that: run `npm run build` and commit dist/.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const out = mkdtempSync(path.join(tmpdir(), "strand-ts-dist-"));
try {
  execFileSync(process.execPath, [path.join(pkg, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json", "--outDir", out], { cwd: pkg, stdio: "inherit" });
  const want = readdirSync(out).sort();
  const have = readdirSync(path.join(pkg, "dist")).sort();
  const stale = [...new Set([...want, ...have])].filter((f) => {
    try {
      return !readFileSync(path.join(out, f)).equals(readFileSync(path.join(pkg, "dist", f)));
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(`dist/ is not what src/ compiles to (${stale.join(", ")}): run \`npm run build\` and commit dist/`);
    process.exit(1);
  }
  console.log(`dist/ is up to date (${want.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
