// Prints the webhook fixtures the Laravel package's phpunit suite verifies, as one JSON
// object on stdout. Every signature is made by the npm `standardwebhooks` reference
// library, so the PHP verifier is checked against code nobody here wrote.
//
// Each case carries the clock (`now`, Unix seconds) the verifier must be set to, so the
// timestamp window is tested without depending on when the suite runs.
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

const secret = "whsec_" + randomBytes(32).toString("base64");
const otherSecret = "whsec_" + randomBytes(32).toString("base64");
const signer = new Webhook(secret);
const stranger = new Webhook(otherSecret);
// A fixed instant: the cases move the verifier's clock around it.
const sentAt = 1767225600;
const toleranceSeconds = 300;

const bodies = {
  "message.sent": {
    message_id: "01JH2Z6Q4X8ZV4N5R7T9W1Y3B5",
    client_id: 100,
    profile_id: 10,
    moderator_id: 7,
    body: "Bonjour, comment allez-vous ?",
    sent_at: "2026-01-01T00:00:00Z",
    in_reply_to: 41,
  },
  "conversation.assigned": { moderator_id: 7, client_id: 100, profile_id: 10 },
  "conversation.released": { moderator_id: 7, client_id: 100, profile_id: 10, reason: "replied" },
  "profile.assigned": { moderator_id: 7, profile_id: 10, reason: "queue" },
  "profile.unassigned": { moderator_id: 7, profile_id: 10, reason: "inactivity" },
  "moderator.state_changed": { moderator_id: 7, state: "working" },
  "alert.raised": { alert_id: 3, kind: "queue_overload", severity: "warning", data: { queue_length: 12 } },
  "conflict.resolved": { conflict_id: 5, participants: [7, 8], strategy: "oldest_wins", winners: [7], queued: [8] },
  "something.new": { note: "a type this package version does not know" },
};

function payload(type) {
  return JSON.stringify({ type, timestamp: "2026-01-01T00:00:00Z", data: bodies[type] });
}

function signed(id, type, { at = sentAt, by = signer } = {}) {
  const body = payload(type);
  return {
    body,
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(at),
      "webhook-signature": by.sign(id, new Date(at * 1000), body),
    },
  };
}

const cases = [];
const accept = (name, now, request) => cases.push({ name, now, valid: true, ...request });
const refuse = (name, now, request) => cases.push({ name, now, valid: false, ...request });

accept("signed now", sentAt, signed("msg_now", "message.sent"));
accept("at the edge of the window, late", sentAt + toleranceSeconds, signed("msg_late", "message.sent"));
accept("at the edge of the window, early", sentAt - toleranceSeconds, signed("msg_early", "message.sent"));
refuse("one second too old", sentAt + toleranceSeconds + 1, signed("msg_old", "message.sent"));
refuse("one second too new", sentAt - toleranceSeconds - 1, signed("msg_new", "message.sent"));
refuse("signed with another secret", sentAt, signed("msg_stranger", "message.sent", { by: stranger }));

const tampered = signed("msg_tampered", "message.sent");
tampered.body = tampered.body.replace("Bonjour", "Bonsoir");
refuse("body changed after signing", sentAt, tampered);

const moved = signed("msg_moved", "message.sent");
moved.headers["webhook-id"] = "msg_other";
refuse("id changed after signing", sentAt, moved);

const shifted = signed("msg_shifted", "message.sent");
shifted.headers["webhook-timestamp"] = String(sentAt + 1);
refuse("timestamp changed after signing", sentAt, shifted);

// Secret rotation: the sender lists several signatures, one of them ours.
const rotated = signed("msg_rotated", "message.sent");
const foreign = stranger.sign("msg_rotated", new Date(sentAt * 1000), rotated.body);
rotated.headers["webhook-signature"] = `${foreign} ${rotated.headers["webhook-signature"]}`;
accept("several signatures, one valid", sentAt, rotated);

const versioned = signed("msg_v2", "message.sent");
versioned.headers["webhook-signature"] = versioned.headers["webhook-signature"].replace(/^v1,/, "v2,");
refuse("right bytes under an unknown version", sentAt, versioned);

for (const header of ["webhook-id", "webhook-timestamp", "webhook-signature"]) {
  const request = signed(`msg_without_${header}`, "message.sent");
  delete request.headers[header];
  refuse(`without ${header}`, sentAt, request);
}

const garbled = signed("msg_garbled", "message.sent");
garbled.headers["webhook-timestamp"] = "soon";
refuse("timestamp not a number", sentAt, garbled);

// One valid delivery per type, for the route's dispatch test.
const events = Object.keys(bodies).map((type, index) => ({
  type,
  now: sentAt,
  ...signed(`msg_event_${index}`, type),
}));

// Signed, so it passes the middleware, but not a delivery: the route must refuse it.
const malformed = { now: sentAt, body: "not json" };
malformed.headers = {
  "webhook-id": "msg_malformed",
  "webhook-timestamp": String(sentAt),
  "webhook-signature": signer.sign("msg_malformed", new Date(sentAt * 1000), malformed.body),
};

// The reference library must agree with every verdict above, or the fixtures are wrong.
for (const fixture of cases) {
  let verdict = true;
  const realNow = Date.now;
  Date.now = () => fixture.now * 1000;
  try {
    signer.verify(fixture.body, fixture.headers);
  } catch {
    verdict = false;
  } finally {
    Date.now = realNow;
  }
  if (verdict !== fixture.valid) {
    throw new Error(`standardwebhooks disagrees with the fixture "${fixture.name}"`);
  }
}

process.stdout.write(JSON.stringify({ secret, tolerance_seconds: toleranceSeconds, cases, events, malformed }));
