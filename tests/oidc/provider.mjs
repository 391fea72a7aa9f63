// A real OpenID provider (the npm package oidc-provider) on a free loopback port, for EP's
// resident login tests. Started by tests/oidc/provider.py with a JSON configuration file:
//   {"clients": [...], "jwks": {"keys": [...]}, "claim": "...", "acrValues": [...],
//    "tls": {"cert": "server.crt", "key": "server.key"}}
// It serves TLS and prints {"issuer": "https://127.0.0.1:PORT"} on one line once it listens.
//
// The login page stands in for BankID: the resident types a personnummer and a name and
// picks the assurance level (acr) the login reaches, or cancels. POST /test/settings with
// new clients or a new JWKS (key rotation) makes a new provider on the same address.
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const settings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const accounts = new Map(); // personnummer -> {given_name, family_name}
const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html><html lang="sv"><head><meta charset="utf-8"><title>${escape(title)}</title></head>
<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`;
}

function configuration() {
  return {
    clients: settings.clients,
    jwks: settings.jwks,
    acrValues: settings.acrValues,
    scopes: ['openid', 'profile', 'https://id.oidc.se/scope/naturalPersonNumber'],
    claims: {
      openid: ['sub'],
      profile: ['given_name', 'family_name', 'name'],
      'https://id.oidc.se/scope/naturalPersonNumber': [settings.claim],
    },
    // the Swedish profile puts the identity in the ID token itself
    conformIdTokenClaims: false,
    cookies: { keys: ['ep-test-provider'] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Logga ut', `${form}<button form="op.logoutForm" name="logout" value="yes">Logga ut hos e-legitimationen</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Utloggad', '<p>Du är utloggad.</p>');
        },
      },
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    // no consent screen: the region's provider has no such step for its own e-services
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile https://id.oidc.se/scope/naturalPersonNumber');
      await grant.save();
      return grant;
    },
    findAccount: async (ctx, id) => ({
      accountId: id,
      async claims() {
        const name = accounts.get(id) || { given_name: '', family_name: '' };
        return {
          sub: id,
          [settings.claim]: id,
          given_name: name.given_name,
          family_name: name.family_name,
          name: `${name.given_name} ${name.family_name}`.trim(),
        };
      },
    }),
  };
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(body))));
    req.on('error', reject);
  });
}

async function interaction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    const levels = settings.acrValues.map((acr) => `<option value="${escape(acr)}">${escape(acr)}</option>`).join('');
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(page('E-legitimation', `
<form method="post" action="/interaction/${details.uid}">
<label>Personnummer <input name="personnummer"></label>
<label>Förnamn <input name="given_name"></label>
<label>Efternamn <input name="family_name"></label>
<label>Tillitsnivå <select name="acr">${levels}</select></label>
<button name="action" value="login">Legitimera</button>
<button name="action" value="cancel">Avbryt</button>
</form>`));
    return;
  }
  const form = await readForm(req);
  if (form.action === 'cancel') {
    await provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
    return;
  }
  accounts.set(form.personnummer, { given_name: form.given_name, family_name: form.family_name });
  await provider.interactionFinished(req, res, {
    login: { accountId: form.personnummer, acr: form.acr },
  }, { mergeWithLastSubmission: false });
}

const server = https.createServer({
  cert: fs.readFileSync(settings.tls.cert),
  key: fs.readFileSync(settings.tls.key),
});
server.listen(0, '127.0.0.1', () => {
  const issuer = `https://127.0.0.1:${server.address().port}`;
  let provider = new Provider(issuer, configuration());
  let handle = provider.callback();
  server.on('request', async (req, res) => {
    try {
      if (req.url.startsWith('/interaction/')) {
        await interaction(provider, req, res);
      } else if (req.url === '/test/settings' && req.method === 'POST') {
        let body = '';
        for await (const chunk of req) body += chunk;
        Object.assign(settings, JSON.parse(body));
        provider = new Provider(issuer, configuration());
        handle = provider.callback();
        res.end('changed');
      } else {
        handle(req, res);
      }
    } catch (error) {
      res.statusCode = 500;
      res.end(String(error));
    }
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});
