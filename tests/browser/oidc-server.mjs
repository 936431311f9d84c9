// A real OpenID Connect provider for the browser tests: the `oidc-provider` package, on an
// ephemeral loopback port. Its development login page accepts any login; the login typed is the
// account, and its email (verified). Prints "issuer URL" as its first line, then serves until
// killed. Configured by OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI.
import http from 'node:http';
import Provider from 'oidc-provider';

const { OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI } = process.env;
if (!OIDC_CLIENT_ID || !OIDC_CLIENT_SECRET || !OIDC_REDIRECT_URI) {
  console.error('set OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_REDIRECT_URI');
  process.exit(2);
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: OIDC_CLIENT_ID,
      client_secret: OIDC_CLIENT_SECRET,
      redirect_uris: [OIDC_REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    // The ID token carries the scope's claims (as Google, Entra ID and Keycloak do).
    conformIdTokenClaims: false,
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, email: sub.toLowerCase(), email_verified: true }),
    }),
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    cookies: { keys: ['oneonone-browser-test-cookie-key'] },
  });
  provider.on('server_error', (ctx, err) => console.error('provider error:', err));
  server.on('request', provider.callback());
  console.log(`issuer ${issuer}`);
});
process.on('SIGTERM', () => process.exit(0));
