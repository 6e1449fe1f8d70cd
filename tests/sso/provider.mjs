// The OpenID providers the SSO end-to-end tests sign in against, on loopback:
// - a real one: oidc-provider (a certified implementation) with a confidential client and a few
//   accounts; its login and consent are finished by this script for the account named in the
//   authorization request's `login_hint`, so the test needs no browser;
// - a liar: a minimal issuer whose ID tokens are broken on purpose (wrong nonce, audience or
//   issuer, expired, badly signed), chosen by `login_hint`, to show the server refuses them.
// Prints `{"issuer": ..., "liar": ...}` on one line once both listen; stops on SIGTERM or when
// stdin closes (the test dropped it).
import {createHash, randomBytes} from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';
import {SignJWT, exportJWK, generateKeyPair} from 'jose';

const CLIENT_ID = process.env.SSO_CLIENT_ID ?? 'fluxer';
const CLIENT_SECRET = process.env.SSO_CLIENT_SECRET ?? 'fluxer-secret';
const REDIRECT_URI = process.env.SSO_REDIRECT_URI ?? 'http://127.0.0.1:9/auth/sso/callback';

const ACCOUNTS = {
  alice: {email: 'alice@corp.test', email_verified: true, name: 'Alice Liddell', preferred_username: 'alice'},
  bob: {email: 'bob@corp.test', email_verified: true, name: 'Bob Builder', preferred_username: 'bob'},
  carol: {email: 'carol@elsewhere.test', email_verified: true, name: 'Carol', preferred_username: 'carol'},
  // Claims an address it has not proven.
  eve: {email: 'alice@corp.test', email_verified: false, name: 'Eve', preferred_username: 'eve'},
};

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

async function realProvider() {
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: {openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username']},
    pkce: {required: () => true},
    features: {devInteractions: {enabled: false}},
    interactions: {url: (ctx, interaction) => `/interaction/${interaction.uid}`},
    async findAccount(ctx, id) {
      const claims = ACCOUNTS[id];
      if (!claims) return undefined;
      return {accountId: id, claims: async () => ({sub: id, ...claims})};
    },
  });
  const callback = provider.callback();
  server.on('request', async (req, res) => {
    if (!req.url.startsWith('/interaction/')) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      const accountId = details.params.login_hint;
      if (!ACCOUNTS[accountId]) {
        return provider.interactionFinished(req, res, {error: 'access_denied', error_description: 'unknown account'});
      }
      const grant = new provider.Grant({accountId, clientId: details.params.client_id});
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, {login: {accountId}, consent: {grantId}}, {mergeWithLastSubmission: false});
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  return issuer;
}

async function liar() {
  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const {privateKey, publicKey} = await generateKeyPair('ES256');
  const other = await generateKeyPair('ES256');
  const jwk = {...(await exportJWK(publicKey)), kid: 'k1', use: 'sig', alg: 'ES256'};
  const codes = new Map();
  const b64url = (buf) => buf.toString('base64url');
  const json = (res, status, body) => {
    res.writeHead(status, {'content-type': 'application/json'});
    res.end(JSON.stringify(body));
  };
  server.on('request', async (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, {keys: [jwk]});
    if (url.pathname === '/auth') {
      const p = url.searchParams;
      const code = b64url(randomBytes(16));
      codes.set(code, {flaw: p.get('login_hint'), nonce: p.get('nonce'), challenge: p.get('code_challenge')});
      const back = new URL(p.get('redirect_uri'));
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.get('state'));
      res.writeHead(302, {location: back.toString()});
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const entry = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verifier = form.get('code_verifier') ?? '';
      if (!entry || b64url(createHash('sha256').update(verifier).digest()) !== entry.challenge) {
        return json(res, 400, {error: 'invalid_grant'});
      }
      const now = Math.floor(Date.now() / 1000);
      const flaw = entry.flaw;
      const claims = {
        sub: `liar-${flaw}`, email: `${flaw}@corp.test`, email_verified: true,
        nonce: flaw === 'wrong_nonce' ? `not-${entry.nonce}` : entry.nonce,
      };
      let jwt = new SignJWT(claims)
        .setProtectedHeader({alg: 'ES256', kid: 'k1'})
        .setIssuer(flaw === 'wrong_iss' ? 'http://evil.test' : issuer)
        .setAudience(flaw === 'wrong_aud' ? 'someone-else' : CLIENT_ID)
        .setIssuedAt(flaw === 'expired' ? now - 900 : now)
        .setExpirationTime(flaw === 'expired' ? now - 600 : now + 300);
      const id_token = await jwt.sign(flaw === 'bad_sig' ? other.privateKey : privateKey);
      return json(res, 200, {access_token: b64url(randomBytes(16)), token_type: 'Bearer', id_token});
    }
    res.writeHead(404);
    res.end();
  });
  return issuer;
}

const out = {issuer: await realProvider(), liar: await liar()};
process.stdout.write(`${JSON.stringify(out)}\n`);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
