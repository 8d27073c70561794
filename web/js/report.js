// The one-file report: the dashboard drawn from the aggregates embedded in the file itself.

import { Dashboard } from "./dashboard.js";
import { EmbeddedSource } from "./embedded.js";

const embedded = JSON.parse(document.getElementById("footfall-data").textContent);
const source = new EmbeddedSource(embedded);
const session = source.session().data;
document.getElementById("generated").textContent =
  `${embedded.first_day ?? "no data"} to ${embedded.newest_day ?? ""}, generated ${embedded.generated_at}`;
globalThis.footfallReport = { source };
new Dashboard(document.getElementById("app"), source, session, { timezone: embedded.timezone });
