'use strict';
// matrix-appservice-bridge loads matrix-bot-sdk, which requires the native crypto package at import
// time. matrixrtc-recorder never uses bot-sdk crypto (E2EE runs through matrix-js-sdk + crypto-wasm),
// so every export is a stub that fails loudly if anything ever touches it.
const message =
  '@matrix-org/matrix-sdk-crypto-nodejs is not installed in matrixrtc-recorder: ' +
  'bot-sdk crypto is unsupported; E2EE goes through matrix-js-sdk with matrix-sdk-crypto-wasm.';
function unavailable() {
  throw new Error(message);
}
module.exports = new Proxy(
  {},
  {
    get(_target, prop) {
      if (prop === '__esModule' || typeof prop === 'symbol' || prop === 'then') return undefined;
      return new Proxy(unavailable, {
        construct: unavailable,
        apply: unavailable,
        get: (_t, p) => (typeof p === 'symbol' ? undefined : p),
      });
    },
  },
);
