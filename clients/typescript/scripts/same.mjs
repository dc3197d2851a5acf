// Fails when the committed generated types differ from a fresh generation.
import { readFileSync } from "node:fs";
const [committed, fresh] = process.argv.slice(2);
if (readFileSync(committed, "utf8") !== readFileSync(fresh, "utf8")) {
  console.error(`${committed} is stale: openapi.yaml changed. Run \`npm run generate\` in clients/typescript (make ts-generate) and commit it.`);
  process.exit(1);
}
console.log(`${committed} matches openapi.yaml`);
