// A webhook receiver for Switchboard's webhook tests: every request's signature is checked
// with the npm `standardwebhooks` reference library (not our code), and each request is
// reported as one JSON line on stdout.
//
//   node receiver.mjs <whsec_secret>
//
// It listens on 127.0.0.1 on a free port and prints {"listening": port} first. Then, for
// each request: {"id", "timestamp", "signature", "verified", "error"?, "type", "body",
// "answer"}. How it answers is scripted on stdin, one word per line, consumed one per
// request, oldest first; when none is queued it answers the default:
//   200 | 500 | <any status>  answer that status
//   hang                      never answer (the sender's timeout must end it)
//   garbage                   write bytes that are not HTTP, then close
//   default <word>            change the default (initially 200)
// A request whose signature does not verify is answered 400 and reported verified:false.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const secret = process.argv[2];
if (!secret) {
  console.error("usage: node receiver.mjs <whsec_secret>");
  process.exit(2);
}
const verifier = new Webhook(secret);
const script = [];
let fallback = "200";

createInterface({ input: process.stdin }).on("line", (line) => {
  const word = line.trim();
  if (word.startsWith("default ")) {
    fallback = word.slice("default ".length).trim();
  } else if (word) {
    script.push(word);
  }
});
// The test's end closes stdin: stop then, so no receiver outlives its test.
process.stdin.on("end", () => process.exit(0));

const server = createServer((request, response) => {
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = {
      "webhook-id": request.headers["webhook-id"],
      "webhook-timestamp": request.headers["webhook-timestamp"],
      "webhook-signature": request.headers["webhook-signature"],
    };
    const report = {
      id: headers["webhook-id"] ?? null,
      timestamp: headers["webhook-timestamp"] ?? null,
      signature: headers["webhook-signature"] ?? null,
      content_type: request.headers["content-type"] ?? null,
      body,
    };
    try {
      const payload = verifier.verify(body, headers);
      report.verified = true;
      report.type = payload.type;
    } catch (error) {
      report.verified = false;
      report.error = String(error && error.message ? error.message : error);
    }
    const answer = report.verified ? (script.length > 0 ? script.shift() : fallback) : "400";
    report.answer = answer;
    process.stdout.write(JSON.stringify(report) + "\n");
    if (answer === "hang") {
      return; // The socket stays open, unanswered.
    }
    if (answer === "garbage") {
      request.socket.end("this is not HTTP at all\r\n\r\n");
      return;
    }
    const status = Number.parseInt(answer, 10);
    response.writeHead(Number.isInteger(status) ? status : 200, { "content-type": "text/plain" });
    response.end("ok");
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ listening: server.address().port }) + "\n");
});
