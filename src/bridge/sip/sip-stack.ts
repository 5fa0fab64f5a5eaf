// The `sip` package's transport and transaction layers, with our own request routing.
// Its `create()` treats any request whose next hop has the stack's own host as addressed to a
// RFC 5626 flow token and fails it with 404 when the user part is not one; a peer on the same
// host as us (loopback, a PBX beside the bridge) then cannot be called or sent BYE. Here a request
// goes to the Request-URI, or to the first Route when loose routing (;lr) is in use.
import sip, { type CreateOptions, type Remote, type SipMessage, type SipStack } from 'sip';

export function createSipStack(options: CreateOptions, onRequest: (rq: SipMessage, remote: Remote) => void): SipStack {
  const onError = options.logger?.error ?? (() => {});
  // eslint-disable-next-line prefer-const
  let transactions: ReturnType<typeof sip.makeTransactionLayer>;
  const transport = sip.makeTransport(options, (m, remote) => {
    try {
      const t = m.method ? transactions.getServer(m) : transactions.getClient(m);
      if (t) return t.message?.(m, remote);
      if (m.method === 'ACK') return onRequest(m, remote); // the ACK of a 2xx is a transaction of its own
      if (!m.method) return; // a response nobody waits for
      const st = transactions.createServerTransaction(m, transport.get(remote));
      try {
        onRequest(m, remote);
      } catch (err) {
        st.send(sip.makeResponse(m, 500, 'Server Internal Error'));
        throw err;
      }
    } catch (err) {
      onError(err);
    }
  });
  transactions = sip.makeTransactionLayer(options, transport.open.bind(transport));

  return {
    send(m, callback) {
      if (m.method === undefined) {
        transactions.getServer(m)?.send(m);
        return;
      }
      const route = m.headers.route?.[0];
      const hop = sip.parseUri(route ? route.uri : (m.uri ?? ''));
      if (!hop) {
        callback?.(sip.makeResponse(m, 416, 'Unsupported URI Scheme'));
        return;
      }
      sip.resolve(hop, (addresses) => {
        const target = addresses[0];
        if (!target) {
          callback?.(sip.makeResponse(m, 503, `Cannot resolve ${hop.host}`));
          return;
        }
        try {
          if (m.method === 'ACK') {
            m.headers.via = [{ params: { branch: sip.generateBranch() } }];
            const cn = transport.open(target, onError);
            try {
              cn.send(m);
            } finally {
              cn.release();
            }
            return;
          }
          if (m.method !== 'CANCEL') m.headers.via = [{ params: {} }, ...(m.headers.via ?? [])];
          transactions.createClientTransaction(transport.open(target, onError), m, callback ?? (() => {}));
        } catch (err) {
          onError(err);
          callback?.(sip.makeResponse(m, 503, 'Service Unavailable'));
        }
      });
    },
    destroy() {
      transactions.destroy();
      transport.destroy();
    },
    hostname: () => options.publicAddress ?? options.address ?? '',
  };
}
