// Checks live updates through real client libraries over WebSocket against a
// running server: graphql-ws (the graphql-transport-ws protocol, as Apollo
// Client's GraphQLWsLink and GraphiQL speak it) and subscriptions-transport-ws
// (the older graphql-ws protocol, of older Apollo and Relay clients).
// Usage: node live.mjs http://127.0.0.1:8080 <username> <password>
// Exits 1 if a subscription's first counts, a query's answer or a refused
// token's close code (4401) does not come as it should.
import { createClient } from "graphql-ws";
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";

const [base, username, password] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error("usage: node live.mjs BASE_URL USERNAME PASSWORD");
  process.exit(2);
}
const url = `${base.replace(/^http/, "ws")}/graphql`;

function within(what, promise, ms = 10_000) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const res = await fetch(`${base}/graphql`, {
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({
    query: `mutation ($login: String!, $password: String!) {
      login(input: { login: $login, password: $password }) { accessToken userErrors { message } }
    }`,
    variables: { login: username, password },
  }),
});
const token = (await res.json()).data?.login?.accessToken;
if (!token) {
  console.error("sign-in failed");
  process.exit(1);
}
const connectionParams = { Authorization: `Bearer ${token}` };
const counts = "subscription { licenseCountsChanged { class total inUse available } }";

// The first answer of an operation on a graphql-ws client.
function first(client, query) {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe(
      { query },
      {
        next(result) {
          dispose();
          if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          else resolve(result.data);
        },
        error: reject,
        complete() {},
      },
    );
  });
}

const failures = [];
function check(ok, message) {
  if (!ok) failures.push(message);
}

// graphql-transport-ws: a subscription's first counts, then a query on the
// same socket.
const client = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0 });
const live = await within("graphql-ws: first counts", first(client, counts));
check(live.licenseCountsChanged?.length > 0, `graphql-ws: counts ${JSON.stringify(live)}`);
const viewer = await within("graphql-ws: a query", first(client, "{ viewer { username } }"));
check(viewer.viewer?.username === username, `graphql-ws: viewer ${JSON.stringify(viewer)}`);
await client.dispose();

// A refused token closes with 4401, on which graphql-ws gives up (and an
// app signs the person out) rather than retrying.
let closedWith;
const refused = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: "Bearer not-a-token" },
  retryAttempts: 0,
  on: { closed: (event) => (closedWith = event.code) },
});
await within("graphql-ws: a refused token", first(refused, counts).catch(() => {}));
check(closedWith === 4401, `graphql-ws: a refused token closed with ${closedWith}, want 4401`);
await refused.dispose();

// graphql-ws (subscriptions-transport-ws): the same subscription.
const legacy = new SubscriptionClient(url, { connectionParams, reconnect: false }, WebSocket);
const legacyFirst = await within(
  "subscriptions-transport-ws: first counts",
  new Promise((resolve, reject) => {
    const sub = legacy.request({ query: counts }).subscribe({
      next(result) {
        sub.unsubscribe();
        if (result.errors) reject(new Error(JSON.stringify(result.errors)));
        else resolve(result.data);
      },
      error: reject,
    });
  }),
);
check(legacyFirst.licenseCountsChanged?.length > 0, `subscriptions-transport-ws: counts ${JSON.stringify(legacyFirst)}`);
legacy.close();

if (failures.length > 0) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log(
  `live updates through graphql-ws and subscriptions-transport-ws: ${live.licenseCountsChanged.length} classes counted, viewer ${viewer.viewer.username}, a refused token closed with ${closedWith}`,
);
process.exit(0);
