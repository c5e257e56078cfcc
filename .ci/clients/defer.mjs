// Checks @defer through a real client library: Apollo Client 4 over HTTP
// (multipart/mixed) against a running server, as the admin SPA would use it.
// Usage: node defer.mjs http://127.0.0.1:8080 <username> <password>
// Exits 1 if the deferred part never arrives (the query stays loading).
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { Defer20220824Handler } from "@apollo/client/incremental";

const [base, username, password] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error("usage: node defer.mjs BASE_URL USERNAME PASSWORD");
  process.exit(2);
}

const anonymous = new ApolloClient({
  link: new HttpLink({ uri: `${base}/graphql` }),
  cache: new InMemoryCache(),
});
const login = await anonymous.mutate({
  mutation: gql`
    mutation SignIn($login: String!, $password: String!) {
      login(input: { login: $login, password: $password }) {
        accessToken
        userErrors { code message }
      }
    }
  `,
  variables: { login: username, password },
});
const token = login.data?.login?.accessToken;
if (!token) {
  console.error("sign-in failed:", JSON.stringify(login));
  process.exit(1);
}

const client = new ApolloClient({
  link: new HttpLink({ uri: `${base}/graphql`, headers: { Authorization: `Bearer ${token}` } }),
  cache: new InMemoryCache(),
  incrementalHandler: new Defer20220824Handler(),
});
const query = gql`
  query ViewerWithDeferredLicense {
    viewer {
      id
      username
      ... @defer(label: "license") {
        licenseClass
      }
    }
  }
`;

const results = [];
const done = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("the deferred part did not arrive within 10 s")), 10_000);
  const sub = client.watchQuery({ query }).subscribe({
    next(result) {
      results.push(result);
      if (result.error) {
        clearTimeout(timer);
        sub.unsubscribe();
        reject(result.error);
      } else if (!result.loading && result.data?.viewer?.licenseClass) {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(result);
      }
    },
    error(err) {
      clearTimeout(timer);
      reject(err);
    },
  });
});

try {
  const result = await done;
  const partial = results.some((r) => r.data?.viewer?.username && !r.data?.viewer?.licenseClass);
  console.log(
    `@defer through Apollo Client: ${results.length} results, first part alone: ${partial}, final:`,
    JSON.stringify(result.data),
  );
} catch (err) {
  console.error("@defer through Apollo Client failed:", err.message ?? err, JSON.stringify(results));
  process.exit(1);
}
