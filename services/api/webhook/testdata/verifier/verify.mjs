// Verifies webhook requests captured by services/api/webhook_test.go with the
// Standard Webhooks reference library, independent of esrflow's signing code.
// Input (stdin): {"secret": "whsec_...", "requests": [{"headers": {...}, "body": "..."}]}
// Output: one line per request, "ok <webhook-id>" or "bad <webhook-id> <reason>";
// exit 1 if any is bad. A tampered copy of each request must fail, so the
// verifier is shown to be able to refuse.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, requests } = JSON.parse(input);
const wh = new Webhook(secret);
let bad = 0;
for (const r of requests) {
  const id = r.headers["webhook-id"];
  try {
    wh.verify(r.body, r.headers);
    console.log(`ok ${id}`);
  } catch (e) {
    bad++;
    console.log(`bad ${id} ${e.message}`);
  }
  try {
    wh.verify(r.body + " ", r.headers);
    bad++;
    console.log(`bad ${id} tampered body accepted`);
  } catch {
    // refused, as it must be
  }
}
process.exit(bad ? 1 : 0);
