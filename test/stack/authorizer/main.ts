// Runs the test authorizer with lk-jwt-service's environment variables (protocol notes §6.9),
// plus MRR_AUTHORIZER_HOMESERVERS=`server=url,…` naming where each homeserver's OpenID
// userinfo endpoint is (the real service finds it through federation discovery over HTTPS).
import { createAuthorizer } from './server.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`authorizer: ${name} is required`);
    process.exit(78);
  }
  return value;
}

const bind = process.env.LIVEKIT_JWT_BIND ?? '127.0.0.1:8080';
const [host, port] = bind.includes(':') ? [bind.slice(0, bind.lastIndexOf(':')) || '0.0.0.0', bind.slice(bind.lastIndexOf(':') + 1)] : ['0.0.0.0', bind];
const homeserverUrls = Object.fromEntries(
  required('MRR_AUTHORIZER_HOMESERVERS')
    .split(',')
    .map((pair) => pair.split('=') as [string, string]),
);

const server = createAuthorizer({
  livekitUrl: required('LIVEKIT_URL'),
  apiKey: required('LIVEKIT_KEY'),
  apiSecret: required('LIVEKIT_SECRET'),
  fullAccessHomeservers: required('LIVEKIT_FULL_ACCESS_HOMESERVERS').split(',').map((s) => s.trim()),
  homeserverUrls,
});
server.listen(Number(port), host, () => console.log(`authorizer listening on ${host}:${port}`));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
