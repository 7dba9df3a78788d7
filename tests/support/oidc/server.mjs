// A real OpenID Connect provider for the tests: oauth2-mock-server (discovery, JWKS, an
// /authorize that redirects straight back with a code, a token endpoint that checks PKCE and
// signs RS256 ID tokens carrying the nonce it was given).
//
//   node server.mjs MODULE_DIR PORT IDENTITY_JSON
//
// MODULE_DIR: the installed oauth2-mock-server package (.ci/node/node_modules/oauth2-mock-server).
// PORT: where to listen on 127.0.0.1 (0: any free port).  Prints the issuer URL on one line of
// stdout once it answers.
// IDENTITY_JSON: read each time an ID token is signed, so a test chooses who signs in next:
//   {"claims": {"email": ..., "email_verified": ..., "name": ...},  merged into the ID token
//    "remove": ["email"],          claims taken out of it
//    "tamper": true,               the token's payload altered after signing (bad signature)
//    "id_token": "..."}            sent instead of the token signed here (another key's)
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [moduleDir, port, identityPath] = process.argv.slice(2);
const { OAuth2Server } = await import(pathToFileURL(join(moduleDir, 'dist', 'index.mjs')).href);

const next = () => {
  try {
    return JSON.parse(readFileSync(identityPath, 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return {};
    throw error;
  }
};

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

// The service's ID token is the one with an audience (the client id); the access token
// signed in the same request has none.
server.service.on('beforeTokenSigning', (token) => {
  if (!('aud' in token.payload)) return;
  const identity = next();
  Object.assign(token.payload, identity.claims ?? {});
  for (const claim of identity.remove ?? []) delete token.payload[claim];
});

server.service.on('beforeResponse', (response) => {
  const identity = next();
  const body = response.body;
  if (typeof body.id_token !== 'string') return;
  if (identity.id_token) {
    body.id_token = identity.id_token;
  } else if (identity.tamper) {
    const [header, payload, signature] = body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    claims.email = 'intruder@example.org';
    body.id_token = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
  }
});

await server.start(Number(port), '127.0.0.1');
// It would name itself http://localhost:PORT; the address it listens on is unambiguous.
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
process.stdout.write(server.issuer.url + '\n');

const stop = async () => {
  await server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
