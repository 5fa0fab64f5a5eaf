// Runs the test authorizer with lk-jwt-service's environment variables (protocol notes §6.9),
// plus MRR_AUTHORIZER_HOMESERVERS=`server=url,…` naming where each homeserver's OpenID
// userinfo endpoint is (the real service finds it through federation discovery over HTTPS), and
// MRR_AUTHORIZER_BEHAVIOUR=v0.5.0|main (default v0.5.0; server.ts says what differs).
import { AUTHORIZER_BEHAVIOURS, createAuthorizer, parseFullAccessHomeservers, type AuthorizerBehaviour } from './server.ts';

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

const behaviour = process.env.MRR_AUTHORIZER_BEHAVIOUR || 'v0.5.0';
if (!(AUTHORIZER_BEHAVIOURS as readonly string[]).includes(behaviour)) {
  console.error(`authorizer: MRR_AUTHORIZER_BEHAVIOUR must be one of ${AUTHORIZER_BEHAVIOURS.join(', ')}, not ${behaviour}`);
  process.exit(78);
}

const server = createAuthorizer({
  livekitUrl: required('LIVEKIT_URL'),
  apiKey: required('LIVEKIT_KEY'),
  apiSecret: required('LIVEKIT_SECRET'),
  fullAccessHomeservers: parseFullAccessHomeservers(required('LIVEKIT_FULL_ACCESS_HOMESERVERS')),
  homeserverUrls,
  behaviour: behaviour as AuthorizerBehaviour,
});
// The bound port is printed, so that a test can bind port 0 and read where it listens.
server.listen(Number(port), host, () => {
  const address = server.address();
  console.log(`authorizer (lk-jwt-service ${behaviour}) listening on ${host}:${typeof address === 'object' && address ? address.port : port}`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => server.close(() => process.exit(0)));
